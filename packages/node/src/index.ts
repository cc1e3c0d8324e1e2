export {
  createNodeBridge,
  createRequestListener,
  exchangeOf,
  type NodeAdapterOptions,
  type NodeBridge,
  type Responder,
  respond,
} from './adapter/index.js';
