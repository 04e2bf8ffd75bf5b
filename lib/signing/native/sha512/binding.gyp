{
  "targets": [
    {
      "target_name": "sha512_state",
      "sources": ["sha512_state.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-lcrypto"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
