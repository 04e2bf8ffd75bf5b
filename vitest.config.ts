import { defineConfig } from "vitest/config";

// Forks pool: pkcs11js breaks under worker threads (platform notes §1).
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
