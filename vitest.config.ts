import { defineConfig } from "vitest/config";

// Forks pool: under --pool=threads pkcs11js fails ("Argument 0 has wrong type. Should be a Buffer"), measured with vitest 4.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
