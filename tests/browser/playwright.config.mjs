// Playwright drives Debian's Chromium (/usr/bin/chromium); no browser is downloaded.
import { defineConfig } from '@playwright/test';

const port = Number(process.env.PLAYGROUND_TEST_PORT ?? 8123);

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.mjs',
  timeout: 60_000,
  workers: 1,
  retries: 0,
  outputDir: '../../build/test-logs/playwright',
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    acceptDownloads: true,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
  webServer: {
    command: `node ../../scripts/static-server.mjs ${port}`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: false,
    timeout: 20_000,
  },
});
