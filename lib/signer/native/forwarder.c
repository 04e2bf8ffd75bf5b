/*
 * signstar-download-signature, the hot path: the ForceCommand of signing users (installed under that name by
 * .ci/build-native.mjs; the Node implementation stays next to it as <self>.js).
 *
 * Starting Node costs about 60 ms per request, so sshd runs this small program instead. It connects to the
 * calling user's resident signer (/run/signstar/signer/<user>/socket, <user> from getpwuid(getuid())), sends
 * stdin, half-closes, and reads the answer as frames (lib/signer/frames.ts):
 *
 *   type (1 byte) | length (4 bytes, big-endian) | payload
 *   'O' stdout bytes (buffered until 'X', so a failed request prints nothing on stdout)
 *   'E' one stderr line
 *   'X' the exit code (1 byte); the last frame
 *
 * It exits with that code, so clients see exactly what the in-process tool would print and return.
 *
 * Fallback: with arguments (--help, --version), as root, or when no resident signer accepts the connection, it
 * execs the Node implementation (<realpath of itself>.js: same result, slower). That path is bounded per user by
 * flock(2) slots in the user's directory: run.0 .. run.<C-1> (SIGNSTAR_SIGNER_CONCURRENT, 1..1024, default 4) and
 * queue.0 .. queue.<Q-1> (SIGNSTAR_SIGNER_QUEUED, 0..1024, default 16; both from [system] signing_concurrency and
 * signing_queue through the user's sshd SetEnv, lib/config/primitives.ts SIGNING_LIMITS); the slot's descriptor is inherited across exec,
 * so the kernel releases it when the Node process ends, however it ends. With every slot taken: one line and
 * EXIT_BUSY. A resident signer that stops before answering: one line and EXIT_BUSY (try again).
 *
 * Environment: SIGNSTAR_ROOT (a root prefix, set only by the administrator: sshd SetEnv), the two limits above.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* lib/errors.ts EXIT_CODES (tests/signer/forwarder.test.ts checks these against the table). */
#define EXIT_INTERNAL 1
#define EXIT_BUSY 9

#define PROGRAM "signstar-download-signature"
#define SIGNER_DIR "/run/signstar/signer"
/* Bounds of one answer (the response JSON is a few KiB; frames.ts MAX_FRAME_BYTES). */
#define MAX_FRAME (1024 * 1024)
#define MAX_STDOUT (1024 * 1024)
#define DEFAULT_CONCURRENT 4
#define DEFAULT_QUEUED 16
#define MAX_SLOTS 1024
/* How long a queued fallback request waits for a run slot before it gives up (the request deadline is 10 s). */
#define QUEUE_WAIT_MS 60000

static void fail(int code, const char *message) {
  dprintf(2, "%s: %s\n", PROGRAM, message);
  exit(code);
}

static char *self_js(void) {
  static char path[PATH_MAX + 4];
  char self[PATH_MAX];
  if (realpath("/proc/self/exe", self) == NULL) fail(EXIT_INTERNAL, "cannot find my own executable");
  if (snprintf(path, sizeof path, "%s.js", self) >= (int)sizeof path) fail(EXIT_INTERNAL, "my own path is too long");
  return path;
}

static void exec_node(char **argv) {
  char *js = self_js();
  argv[0] = js;
  execv(js, argv);
  dprintf(2, "%s: cannot run %s: %s\n", PROGRAM, js, strerror(errno));
  exit(EXIT_INTERNAL);
}

static long env_limit(const char *name, long min, long fallback) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') return fallback;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < min || n > MAX_SLOTS) return fallback;
  return n;
}

/* Takes one of prefix.0 .. prefix.<n-1> without waiting; returns its descriptor or -1. */
static int take_slot(int dirfd, const char *prefix, long n) {
  for (long i = 0; i < n; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s.%ld", prefix, i);
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    close(fd);
  }
  return -1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The in-process fallback, within the user's limits. */
static void fallback(const char *dir, char **argv) {
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0) exec_node(argv); /* no per-user directory (a host without the tmpfiles entry): unbounded */
  long concurrent = env_limit("SIGNSTAR_SIGNER_CONCURRENT", 1, DEFAULT_CONCURRENT);
  long queued = env_limit("SIGNSTAR_SIGNER_QUEUED", 0, DEFAULT_QUEUED);
  int slot = take_slot(dirfd, "run", concurrent);
  if (slot < 0) {
    int waiting = take_slot(dirfd, "queue", queued);
    if (waiting < 0) fail(EXIT_BUSY, "busy: too many signing requests of this user at once; try again later");
    for (long waited = 0; slot < 0; waited += 5) {
      if (waited >= QUEUE_WAIT_MS) fail(EXIT_BUSY, "busy: no signing slot became free in time; try again later");
      sleep_ms(5);
      slot = take_slot(dirfd, "run", concurrent);
    }
    close(waiting);
  }
  close(dirfd);
  /* Keep the lock across exec: the Node process holds it until it exits. */
  int flags = fcntl(slot, F_GETFD);
  if (flags >= 0) fcntl(slot, F_SETFD, flags & ~FD_CLOEXEC);
  exec_node(argv);
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void lost(void) { fail(EXIT_BUSY, "the resident signer stopped before answering; try again"); }

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 || getuid() == 0) exec_node(argv);
  struct passwd *pw = getpwuid(getuid());
  if (pw == NULL || pw->pw_name[0] == '\0' || strchr(pw->pw_name, '/') != NULL || strcmp(pw->pw_name, "..") == 0 ||
      strcmp(pw->pw_name, ".") == 0)
    exec_node(argv); /* the Node implementation reports the caller problem */

  const char *root = getenv("SIGNSTAR_ROOT");
  if (root == NULL || root[0] != '/' || strcmp(root, "/") == 0) root = "";
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s%s/%s", root, SIGNER_DIR, pw->pw_name) >= (int)sizeof dir) exec_node(argv);

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/socket", dir) >= (int)sizeof addr.sun_path) fallback(dir, argv);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (sock >= 0) close(sock);
    fallback(dir, argv);
  }

  /* Relay: stdin -> socket (then half-close), socket -> frames, at the same time. */
  unsigned char *out = malloc(MAX_STDOUT);
  unsigned char *frame = malloc(MAX_FRAME + 5);
  if (out == NULL || frame == NULL) fail(EXIT_INTERNAL, "out of memory");
  size_t out_len = 0, have = 0;
  int stdin_open = 1;
  unsigned char buf[65536];
  size_t pend_off = 0, pend_len = 0; /* stdin bytes read but not yet accepted by the socket */
  for (;;) {
    /* Never block in a write: a signer that answers early (an oversized request) stops reading, and a blocked
       write would then never see its answer. So the socket is written only when poll says it takes bytes, and
       stdin is read only when nothing is pending. */
    struct pollfd fds[2] = {{.fd = sock, .events = POLLIN | (pend_len > 0 ? POLLOUT : 0)},
                            {.fd = stdin_open && pend_len == 0 ? 0 : -1, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_INTERNAL, "poll failed");
    }
    if (pend_len > 0 && (fds[0].revents & (POLLOUT | POLLERR))) {
      ssize_t w = send(sock, buf + pend_off, pend_len, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        pend_off += (size_t)w;
        pend_len -= (size_t)w;
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        /* The signer closed its end (it answered early): stop sending and read its answer. */
        pend_len = 0;
        stdin_open = 0;
      }
    }
    if (fds[1].fd == 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        stdin_open = 0;
        shutdown(sock, SHUT_WR);
      } else {
        pend_off = 0;
        pend_len = (size_t)r;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(sock, frame + have, MAX_FRAME + 5 - have);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) lost();
      have += (size_t)r;
      while (have >= 5) {
        uint32_t len = ((uint32_t)frame[1] << 24) | ((uint32_t)frame[2] << 16) | ((uint32_t)frame[3] << 8) | frame[4];
        if (len > MAX_FRAME) fail(EXIT_INTERNAL, "the resident signer sent an oversized frame");
        if (have < 5 + (size_t)len) break;
        unsigned char type = frame[0];
        if (type == 'O') {
          if (out_len + len > MAX_STDOUT) fail(EXIT_INTERNAL, "the resident signer sent too much output");
          memcpy(out + out_len, frame + 5, len);
          out_len += len;
        } else if (type == 'E') {
          write_all(2, frame + 5, len);
        } else if (type == 'X' && len == 1) {
          int code = frame[5];
          if (out_len > 0 && write_all(1, out, out_len) != 0) return code == 0 ? 8 : code; /* Remote: client gone */
          return code;
        } else {
          fail(EXIT_INTERNAL, "the resident signer sent an unknown frame");
        }
        memmove(frame, frame + 5 + len, have - 5 - len);
        have -= 5 + len;
      }
    }
  }
}
