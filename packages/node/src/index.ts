export {
  createNodeBridge,
  createRequestListener,
  exchangeOf,
  type NodeAdapterOptions,
  type NodeBridge,
  respond,
} from './adapter/index.js';
