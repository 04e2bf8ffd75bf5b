{
  "targets": [
    {
      "target_name": "signstar-download-signature",
      "type": "executable",
      "sources": ["forwarder.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE"],
      "ldflags": ["-pie", "-Wl,-z,relro,-z,now"]
    }
  ]
}
