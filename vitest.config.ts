import { defineConfig } from 'vitest/config';

// Integration tests share real services (MariaDB, RabbitMQ, Mosquitto, rrdcached); files run in
// parallel but each test creates its own database/queue/data dir names so they never collide.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'agent/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
