export { fairmind, handle, type Mountable, mount, problemHandler } from './adapter/index.js';
