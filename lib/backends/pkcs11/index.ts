/** PKCS#11 backend (pkcs11js): SoftHSMv2, any vendor module, or p11-kit-client.so. See README.md here. */
export { openPkcs11SigningKey, type OpenPkcs11KeyOptions, type Pkcs11SigningKey } from "./signing-key.js";
export {
  openPkcs11Admin,
  initPkcs11Token,
  setPkcs11UserPin,
  changePkcs11UserPin,
  checkPkcs11SoPin,
  KEYGEN_TIMEOUT_MS,
  type Pkcs11Administration,
  type Pkcs11KeyInfo,
} from "./admin.js";
export {
  Pkcs11Error,
  Pkcs11ModuleError,
  Pkcs11TokenNotFoundError,
  Pkcs11KeyNotFoundError,
  Pkcs11PinError,
  Pkcs11PinLockedError,
  Pkcs11MechanismError,
  Pkcs11UsageError,
} from "./errors.js";
export { parseKeyRef, keyRefOf } from "./key-ref.js";
export { pkcs11TokenPresent, readPublicKeyAndCertificate, readTokenFacts, type PublicKeyAndCertificate, type TokenFacts } from "./public-objects.js";
export { CERTIFICATE_APPLICATION } from "./objects.js";
export { DEFAULT_P11_KIT_SERVER_ADDRESS, DEFAULT_TIMEOUT_MS } from "./module.js";
export { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA } from "./pkcs11js.js";
