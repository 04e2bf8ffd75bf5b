/*
 * Minimal N-API addon: a SHA-512 (OpenSSL's low-level SHA512_* on a SHA512_CTX, assembly-accelerated) whose
 * state can be exported in the 208-byte `sha2-0.11-SHA512-state` layout of Signstar signing requests:
 *   [0,64)    H0..H7, each u64 little-endian
 *   [64,80)   number of complete 128-byte blocks compressed, u128 little-endian
 *   80        pos = number of buffered bytes (< 128)
 *   [81,208)  buffered bytes [0,pos), then zeros
 * JavaScript side: lib/signing/native-sha512.ts. Plain node_api.h, no node-addon-api.
 *
 * exports:
 *   create() -> external context
 *   update(ctx, Uint8Array data, length) -> undefined   (hashes data[0, length))
 *   state(ctx) -> Uint8Array(208)
 *   version() -> string (OpenSSL version the symbols resolved to)
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#define OPENSSL_API_COMPAT 0x10100000L
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STATE_BYTES 208

#define CHECK(env, call)                                        \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      napi_throw_error((env), NULL, "sha512_state: " #call);    \
      return NULL;                                              \
    }                                                           \
  } while (0)

static void finalize_ctx(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  OPENSSL_cleanse(data, sizeof(SHA512_CTX));
  free(data);
}

static napi_value create(napi_env env, napi_callback_info info) {
  (void)info;
  SHA512_CTX *ctx = malloc(sizeof(SHA512_CTX));
  if (ctx == NULL) {
    napi_throw_error(env, NULL, "sha512_state: out of memory");
    return NULL;
  }
  if (SHA512_Init(ctx) != 1) {
    free(ctx);
    napi_throw_error(env, NULL, "sha512_state: SHA512_Init failed");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, ctx, finalize_ctx, NULL, &ext) != napi_ok) {
    finalize_ctx(env, ctx, NULL);
    napi_throw_error(env, NULL, "sha512_state: napi_create_external failed");
    return NULL;
  }
  return ext;
}

static SHA512_CTX *get_ctx(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, NULL, "sha512_state: expected a context");
    return NULL;
  }
  return (SHA512_CTX *)p;
}

static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 3) {
    napi_throw_type_error(env, NULL, "sha512_state: update(ctx, data, length)");
    return NULL;
  }
  SHA512_CTX *ctx = get_ctx(env, argv[0]);
  if (ctx == NULL) return NULL;
  bool is_ta = false;
  CHECK(env, napi_is_typedarray(env, argv[1], &is_ta));
  if (!is_ta) {
    napi_throw_type_error(env, NULL, "sha512_state: data must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  CHECK(env, napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "sha512_state: data must be a Uint8Array");
    return NULL;
  }
  int64_t want = 0;
  CHECK(env, napi_get_value_int64(env, argv[2], &want));
  if (want < 0 || (uint64_t)want > len) {
    napi_throw_range_error(env, NULL, "sha512_state: length out of range");
    return NULL;
  }
  if (want > 0 && SHA512_Update(ctx, data, (size_t)want) != 1) {
    napi_throw_error(env, NULL, "sha512_state: SHA512_Update failed");
    return NULL;
  }
  return NULL;
}

static void put_le64(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (8 * i));
}

static napi_value state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1) {
    napi_throw_type_error(env, NULL, "sha512_state: state(ctx)");
    return NULL;
  }
  SHA512_CTX *ctx = get_ctx(env, argv[0]);
  if (ctx == NULL) return NULL;
  if (ctx->num >= SHA512_CBLOCK) {
    napi_throw_error(env, NULL, "sha512_state: unexpected buffer position");
    return NULL;
  }
  napi_value ab;
  void *raw = NULL;
  CHECK(env, napi_create_arraybuffer(env, STATE_BYTES, &raw, &ab));
  unsigned char *out = raw;
  memset(out, 0, STATE_BYTES);
  for (int i = 0; i < 8; i++) put_le64(out + 8 * i, (uint64_t)ctx->h[i]);
  /* Nh:Nl is the 128-bit count of hashed bits, buffered bytes included; num < 128, so blocks = bits >> 10. */
  uint64_t nl = (uint64_t)ctx->Nl, nh = (uint64_t)ctx->Nh;
  put_le64(out + 64, (nl >> 10) | (nh << 54));
  put_le64(out + 72, nh >> 10);
  out[80] = (unsigned char)ctx->num;
  memcpy(out + 81, ctx->u.p, ctx->num);
  napi_value arr;
  CHECK(env, napi_create_typedarray(env, napi_uint8_array, STATE_BYTES, ab, 0, &arr));
  return arr;
}

static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s;
  CHECK(env, napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"state", NULL, state, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, version, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
