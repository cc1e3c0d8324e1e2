export * from './app/index.js';
export * from './assessments/index.js';
export * from './dashboard/index.js';
export * from './models/index.js';
export * from './pagination/index.js';
export * from './process/index.js';
export * from './router/index.js';
export * from './routes/index.js';
