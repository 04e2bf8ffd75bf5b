{
  "targets": [
    {
      "target_name": "unix_socket",
      "sources": ["unix_socket.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
