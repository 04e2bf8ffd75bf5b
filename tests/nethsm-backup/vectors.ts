/** The real backup vectors of tests/fixtures/nethsm/backup-vectors (passphrases from its README). */
import { join } from "node:path";
import { TEST_SCRYPT, type ScryptParams } from "../../lib/nethsm-backup/index.js";
import { FIXTURES } from "../support/repo.js";

export const VECTOR_DIR = join(FIXTURES, "nethsm", "backup-vectors");

export interface Vector {
  readonly file: string;
  readonly path: string;
  readonly version: 0 | 1;
  readonly backupPassphrase: string;
  readonly unlockPassphrase: string;
  readonly scrypt?: ScryptParams;
  readonly itemCount: number;
  /** Items the README names for this file. */
  readonly expectItems: readonly string[];
}

const v = (x: Omit<Vector, "path">): Vector => ({ ...x, path: join(VECTOR_DIR, x.file) });

export const VECTORS: readonly Vector[] = [
  v({
    file: "nethsm-sdk-py-v1.bin",
    version: 1,
    backupPassphrase: "backupbackup",
    unlockPassphrase: "unlockunlock",
    itemCount: 17,
    expectItems: [
      "/.initialized", "/authentication/.version", "/authentication/admin", "/authentication/backup",
      "/authentication/operator", "/config/backup-key", "/config/backup-salt", "/config/version", "/key/.version",
      "/key/mykey", "/local/0000000000/config/certificate", "/local/0000000000/config/ip-config",
      "/local/0000000000/config/private-key", "/local/0000000000/config/time-offset",
      "/local/0000000000/config/unlock-salt", "/local/0000000000/domain-key/attended", "/namespace/.version",
    ],
  }),
  v({
    file: "nethsm-sdk-py-v0.bin",
    version: 0,
    backupPassphrase: "backupbackup",
    unlockPassphrase: "unlockunlock",
    itemCount: 16,
    expectItems: ["/authentication/admin", "/authentication/operator", "/authentication/backup", "/key/mykey"],
  }),
  v({
    file: "nethsm-keyfender-test-my_backup.v0.bin",
    version: 0,
    backupPassphrase: "BackupPassphrase",
    unlockPassphrase: "unlockPassphrase",
    itemCount: 15,
    expectItems: ["/authentication/admin", "/config/unlock-salt", "/domain-key/attended"],
  }),
  v({
    file: "nethsm-tests-backup_v0_201.v0.bin",
    version: 0,
    backupPassphrase: "backupPassphrase",
    unlockPassphrase: "UnlockPassphrase",
    itemCount: 24,
    expectItems: [
      "/namespace/namespace1", "/authentication/namespace1~nadmin", "/authentication/namespace1~noperator",
      "/key/myKey1", "/key/MyAESKey", "/key/.namespace1/myKey1", "/authentication/metrics", "/authentication/backup",
    ],
  }),
  v({
    file: "nethsm-keyfender-test-v3.1_backup_full.v0.bin",
    version: 0,
    backupPassphrase: "backupPassphrase",
    unlockPassphrase: "unlockPassphrase",
    scrypt: TEST_SCRYPT,
    itemCount: 24,
    expectItems: ["/namespace/namespace1", "/namespace/namespace2", "/authentication/namespace2~suboperator2"],
  }),
];
