export {
  createNodeBridge,
  createRequestListener,
  exchangeOf,
  type NodeAdapterOptions,
  type NodeBridge,
  notFoundHandler,
  problemHandler,
  type Responder,
  respond,
  use,
} from './adapter/index.js';
