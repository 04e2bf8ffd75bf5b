export { startStandIn, type StandIn, type StandInOptions, type Exchange } from "./server.js";
export { selfSignedCertificate, type TlsMaterial } from "./cert.js";
export { Device } from "./device.js";
export { emsaPssEncode } from "./keys.js";
export { makeUpdateImage } from "./update-image.js";
