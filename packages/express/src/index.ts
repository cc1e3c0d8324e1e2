export {
  type FairmindHandler,
  fairmind,
  type GuardedLocals,
  type GuardHandler,
  handle,
  type Mountable,
  mount,
  notFoundHandler,
  problemHandler,
  use,
} from './adapter/index.js';
