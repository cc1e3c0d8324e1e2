export {
  createPlatform,
  type Platform,
  type PlatformOptions,
  platformMigrations,
} from './app/index.js';
export type { Assessment } from './assessments/index.js';
export type { Dashboard } from './dashboard/index.js';
export { type Model, type RiskLevel, riskLevels } from './models/index.js';
export {
  type EnvFileReport,
  loadEnvFile,
  type PlatformProcess,
  type ServeUntilShutdownOptions,
  type StartPlatformProcessOptions,
  serveUntilShutdown,
  startPlatformProcess,
} from './process/index.js';
