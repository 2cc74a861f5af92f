/** Jest runs TypeScript through ts-jest (isolatedModules: type checking is `npm run typecheck`).
 *  globalSetup builds dist/ first, because multi-process tests start real child processes from compiled output. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
  maxWorkers: 2,
};
