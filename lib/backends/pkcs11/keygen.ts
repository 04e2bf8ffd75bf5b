/** Key pair templates for C_GenerateKeyPair from a KeySetup. */
import type { KeySetup } from "../../config/model.js";
import { type CurveName, ecParamsOf } from "./der.js";
import { Pkcs11UsageError } from "./errors.js";
import { CKM_EC_EDWARDS_KEY_PAIR_GEN, pkcs11js } from "./pkcs11js.js";

type Attr = { type: number; value: number | boolean | string | Buffer };

export interface KeyPairTemplate {
  readonly mechanism: number;
  readonly publicTemplate: Attr[];
  readonly privateTemplate: Attr[];
}

export const DEFAULT_RSA_BITS = 4096;

const CURVES: Partial<Record<KeySetup["keyType"], CurveName>> = {
  Curve25519: "Ed25519",
  EcP256: "P-256",
  EcP384: "P-384",
  EcP521: "P-521",
};

/** Private key: on the token, private, sensitive, never extractable, sign only. */
export function keyPairTemplate(setup: KeySetup, label: string | undefined, id: Buffer): KeyPairTemplate {
  const common: Attr[] = [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_ID, value: id }];
  if (label !== undefined) common.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(label, "utf8") });
  const privateTemplate: Attr[] = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
  const publicTemplate: Attr[] = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
  ];
  if (setup.keyType === "Rsa") {
    const bits = setup.keyLength ?? DEFAULT_RSA_BITS;
    if (!Number.isInteger(bits) || bits < 2048 || bits > 8192) {
      throw new Pkcs11UsageError(`RSA key length ${bits} is outside 2048–8192`);
    }
    publicTemplate.push(
      { type: pkcs11js.CKA_MODULUS_BITS, value: bits },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    );
    return { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, publicTemplate, privateTemplate };
  }
  const curve = CURVES[setup.keyType];
  if (curve === undefined) throw new Pkcs11UsageError(`key type ${setup.keyType} cannot be generated on a PKCS#11 token`);
  publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: ecParamsOf(curve) });
  return {
    mechanism: curve === "Ed25519" ? CKM_EC_EDWARDS_KEY_PAIR_GEN : pkcs11js.CKM_EC_KEY_PAIR_GEN,
    publicTemplate,
    privateTemplate,
  };
}
