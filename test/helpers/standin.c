// A stand-in for Cloud Hypervisor, Firecracker and crosvm in tests. It is hard-linked under the
// real binary name (so /proc/<pid>/exe ends in cloud-hypervisor, firecracker or crosvm) and is
// started with the argv a real one would have; what it does is configured only through VPT_*
// environment variables, so that argv stays realistic. See standin.ts for the meaning of each.
//
// A second mode, `standin --vpt-send-frames IFNAME COUNT SIZE`, is the host side of a TAP: it
// sends COUNT frames of SIZE bytes into IFNAME from an AF_PACKET socket (Node has no AF_PACKET).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <limits.h>
#include <linux/futex.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_TAPS 16
#define ETHERTYPE_LOCAL_EXP 0x88b5

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "standin: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static const char *env_str(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

static long long env_ll(const char *name, long long def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  long long r = strtoll(v, &end, 10);
  if (*end) die("%s=%s is not an integer", name, v);
  return r;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  if (s <= 0) return;
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void fill_frame(unsigned char *f, size_t len, uint32_t seq) {
  memset(f, 0, len);
  memset(f, 0xff, 6);                                           // broadcast destination
  unsigned char src[6] = {0x02, 0x56, 0x50, 0x54, 0x00, 0x01};  // locally administered
  memcpy(f + 6, src, 6);
  f[12] = ETHERTYPE_LOCAL_EXP >> 8;
  f[13] = ETHERTYPE_LOCAL_EXP & 0xff;
  if (len >= 18) memcpy(f + 14, &seq, 4);
}

// ---------------------------------------------------------------- --vpt-send-frames

static int send_frames(const char *ifname, long count, long size) {
  if (size < 14 || size > 65535) die("frame size %ld out of range", size);
  int s = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_LOCAL_EXP));
  if (s < 0) die("socket(AF_PACKET): %s", strerror(errno));
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETHERTYPE_LOCAL_EXP);
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) die("no interface %s: %s", ifname, strerror(errno));
  sll.sll_ifindex = ifr.ifr_ifindex;
  if (bind(s, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind %s: %s", ifname, strerror(errno));
  unsigned char *f = malloc((size_t)size);
  long long total = 0;
  for (long i = 0; i < count; i++) {
    fill_frame(f, (size_t)size, (uint32_t)i);
    ssize_t n = send(s, f, (size_t)size, 0);
    if (n != size) die("send frame %ld to %s: %s", i, ifname, n < 0 ? strerror(errno) : "short write");
    total += n;
  }
  printf("SENT %ld %lld\n", count, total);
  fflush(stdout);
  close(s);
  return 0;
}

// ---------------------------------------------------------------- stand-in state

struct tap {
  char name[IFNAMSIZ];
  int fd;
  int created;  // the ioctl made the device (it did not exist before)
  long long written_bytes, written_frames, write_errors;
  long long read_bytes, read_frames;
  int writer_done;
};

struct worker {
  int index;
  pid_t tid;
  char name[16];
  int burn;
};

static struct tap taps[MAX_TAPS];
static int ntaps;
static struct worker workers[MAX_THREADS];
static int nworkers;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static int named_count;
static volatile int reading_enabled = 1;
static volatile int writers_go;
static long long api_requests;
static long touched_mb;
static long long status_seq;
static const char *status_file;
static const char *api_socket_path;
static double burn_duty = 100;
static long long tx_rate, tx_total;
static long frame_size = 1000;
// Pulse mode (VPT_PULSE_MS > 0): the only periodic wake-up is the main thread's, once per period;
// it wakes the burning threads through one futex and writes into the TAPs itself, so that an idle
// stand-in costs nothing between pulses (1,000 of them on 2 cores, for the agent bench).
static long long pulse_ms, pulse_burn_us, pulse_tx_bytes;
static unsigned pulse_gen;  // futex word: bumped once per pulse
static long long pulses;

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static long long ld(long long *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void add(long long *p, long long v) { __atomic_add_fetch(p, v, __ATOMIC_RELAXED); }

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void write_status_json(FILE *f, int final) {
  fprintf(f, "{\"seq\":%lld,\"pid\":%d,\"final\":%s,\"tids\":[", status_seq, getpid(), final ? "true" : "false");
  for (int i = 0; i < nworkers; i++) fprintf(f, "%s%d", i ? "," : "", workers[i].tid);
  fprintf(f, "],\"threads\":[");
  for (int i = 0; i < nworkers; i++) {
    fprintf(f, "%s{\"tid\":%d,\"name\":", i ? "," : "", workers[i].tid);
    json_str(f, workers[i].name);
    fprintf(f, ",\"burn\":%s}", workers[i].burn ? "true" : "false");
  }
  fprintf(f, "],\"taps\":[");
  for (int i = 0; i < ntaps; i++) {
    struct tap *t = &taps[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, t->name);
    fprintf(f,
            ",\"fd\":%d,\"created\":%s,\"written_bytes\":%lld,\"written_frames\":%lld,\"write_errors\":%lld,"
            "\"writer_done\":%s,\"read_bytes\":%lld,\"read_frames\":%lld}",
            t->fd, t->created ? "true" : "false", ld(&t->written_bytes), ld(&t->written_frames),
            ld(&t->write_errors), __atomic_load_n(&t->writer_done, __ATOMIC_RELAXED) ? "true" : "false",
            ld(&t->read_bytes), ld(&t->read_frames));
  }
  fprintf(f, "],\"reading\":%s,\"api_requests\":%lld,\"touched_mb\":%ld,\"pulses\":%lld}",
          reading_enabled ? "true" : "false", ld(&api_requests), touched_mb, ld(&pulses));
}

static void dump_status(int final) {
  status_seq++;
  if (!status_file) return;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", status_file);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  write_status_json(f, final);
  fputc('\n', f);
  fclose(f);
  rename(tmp, status_file);
}

// ---------------------------------------------------------------- vCPU-like threads

static void burn_until(double until) {
  volatile unsigned long long sink = 0;
  while (now_s() < until) {
    for (int i = 0; i < 1000; i++) sink += (unsigned long long)i * 2654435761u;
  }
}

// A burning thread in pulse mode: blocked on the futex word, then busy for VPT_PULSE_BURN_US of
// CPU per pulse (a real busy loop: the kernel accounts real CPU time to this thread).
static void __attribute__((noreturn)) pulse_burner(void) {
  unsigned seen = __atomic_load_n(&pulse_gen, __ATOMIC_ACQUIRE);
  for (;;) {
    syscall(SYS_futex, &pulse_gen, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    unsigned now = __atomic_load_n(&pulse_gen, __ATOMIC_ACQUIRE);
    if (now == seen) continue;  // spurious wake-up or EINTR
    seen = now;
    burn_until(now_s() + pulse_burn_us / 1e6);
  }
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  prctl(PR_SET_NAME, w->name, 0, 0, 0);
  w->tid = gettid_();
  pthread_mutex_lock(&start_lock);
  named_count++;
  pthread_cond_broadcast(&start_cond);
  pthread_mutex_unlock(&start_lock);
  if (!w->burn || burn_duty <= 0) {
    for (;;) pause();
  }
  if (pulse_ms > 0) pulse_burner();
  // Busy for duty% of every 10 ms period; a real busy loop, so the kernel accounts real CPU time.
  const double period = 0.010;
  for (;;) {
    double start = now_s();
    burn_until(start + period * burn_duty / 100.0);
    if (burn_duty < 100) sleep_s(start + period - now_s());
  }
  return NULL;
}

// ---------------------------------------------------------------- TAPs

static int iface_exists(const char *name) {
  char p[256];
  snprintf(p, sizeof p, "/sys/class/net/%s", name);
  struct stat st;
  return stat(p, &st) == 0;
}

static void open_tap(struct tap *t) {
  int existed = iface_exists(t->name);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun: %s", strerror(errno));
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, t->name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF %s: %s", t->name, strerror(errno));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  t->fd = fd;
  t->created = !existed;
  if (t->created) {
    // The kernel would send its own IPv6 solicitations once the link is up, moving the counters.
    char p[256];
    snprintf(p, sizeof p, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->name);
    int s = open(p, O_WRONLY);
    if (s >= 0) {
      if (write(s, "1", 1) < 0) {
      }
      close(s);
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq up = {0};
    strncpy(up.ifr_name, t->name, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &up) < 0) die("SIOCGIFFLAGS %s: %s", t->name, strerror(errno));
    up.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &up) < 0) die("SIOCSIFFLAGS %s: %s", t->name, strerror(errno));
    close(sock);
  }
}

static pthread_mutex_t read_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t read_cond = PTHREAD_COND_INITIALIZER;

// Reading is checked and done under read_lock, so once set_reading(0) returns no frame is read
// any more: tests can leave frames queued in the TAP and see that tx_bytes has not moved.
static void set_reading(int on) {
  pthread_mutex_lock(&read_lock);
  reading_enabled = on;
  pthread_cond_broadcast(&read_cond);
  pthread_mutex_unlock(&read_lock);
}

// Wakes only when a frame arrives (poll without a timeout) or reading is switched back on (the
// condition variable): an idle TAP costs no wake-ups at all.
static void *tap_reader(void *arg) {
  struct tap *t = arg;
  prctl(PR_SET_NAME, "vpt-tap-rx", 0, 0, 0);
  unsigned char buf[65536];
  for (;;) {
    pthread_mutex_lock(&read_lock);
    while (!reading_enabled) pthread_cond_wait(&read_cond, &read_lock);
    pthread_mutex_unlock(&read_lock);
    struct pollfd p = {t->fd, POLLIN, 0};
    if (poll(&p, 1, -1) <= 0) continue;
    pthread_mutex_lock(&read_lock);
    if (!reading_enabled) {
      pthread_mutex_unlock(&read_lock);
      continue;
    }
    ssize_t n = read(t->fd, buf, sizeof buf);  // the fd is non-blocking
    if (n > 0) {
      add(&t->read_bytes, n);
      add(&t->read_frames, 1);
    }
    pthread_mutex_unlock(&read_lock);
  }
  return NULL;
}

static void *tap_writer(void *arg) {
  struct tap *t = arg;
  prctl(PR_SET_NAME, "vpt-tap-tx", 0, 0, 0);
  while (!writers_go) sleep_s(0.001);
  unsigned char *f = malloc((size_t)frame_size + 64);
  double start = now_s();
  long long sent = 0;
  uint32_t seq = 0;
  for (;;) {
    long long len = frame_size;
    if (tx_total > 0) {
      long long left = tx_total - sent;
      if (left <= 0) break;
      // Never leave a tail shorter than an Ethernet header: the TAP refuses frames under 14 bytes.
      if (left < len) len = left;
      else if (left - len > 0 && left - len < 14) len = left - 14;
    }
    if (tx_rate > 0) {
      double due = start + (double)(sent + len) / (double)tx_rate;
      sleep_s(due - now_s());
    }
    fill_frame(f, (size_t)len, seq++);
    ssize_t n = write(t->fd, f, (size_t)len);
    if (n == len) {
      sent += n;
      add(&t->written_bytes, n);
      add(&t->written_frames, 1);
    } else {
      add(&t->write_errors, 1);
      sleep_s(0.01);
    }
    if (tx_rate <= 0 && tx_total <= 0) break;  // nothing asked: never spin
  }
  __atomic_store_n(&t->writer_done, 1, __ATOMIC_RELAXED);
  free(f);
  return NULL;
}

// One pulse: the burning threads woken through the futex, VPT_PULSE_TX_BYTES into every TAP.
static void pulse(unsigned char *frame) {
  add(&pulses, 1);
  if (pulse_burn_us > 0) {
    __atomic_add_fetch(&pulse_gen, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &pulse_gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
  }
  for (int i = 0; i < ntaps && pulse_tx_bytes > 0; i++) {
    struct tap *t = &taps[i];
    for (long long left = pulse_tx_bytes; left > 0;) {
      long long len = left < frame_size ? left : frame_size;
      if (left - len > 0 && left - len < 14) len = left - 14;  // no tail under an Ethernet header
      fill_frame(frame, (size_t)len, (uint32_t)ld(&t->written_frames));
      ssize_t n = write(t->fd, frame, (size_t)len);
      if (n != len) {
        add(&t->write_errors, 1);
        break;
      }
      left -= n;
      add(&t->written_bytes, n);
      add(&t->written_frames, 1);
    }
  }
}

// ---------------------------------------------------------------- API socket

static int api_hang;
static const char *api_body_file;

// The body of `GET <path>`: <VPT_API_BODY_FILE>.<path, '/' → '_'> when that file exists (so one
// stand-in can answer vm.info and vm.counters differently), else VPT_API_BODY_FILE itself.
static char *read_body(const char *req, size_t reqlen, size_t *len) {
  *len = 0;
  if (!api_body_file) return strdup("{}");
  FILE *f = NULL;
  const char *p = req + 4, *end = memchr(p, ' ', reqlen > 4 ? reqlen - 4 : 0);
  if (end && end > p && (size_t)(end - p) < 200) {
    char alt[4096];
    int n = snprintf(alt, sizeof alt, "%s.", api_body_file);
    for (const char *q = p; q < end && n < (int)sizeof alt - 1; q++) alt[n++] = *q == '/' || *q == '?' ? '_' : *q;
    alt[n] = 0;
    f = fopen(alt, "rb");
  }
  if (!f) f = fopen(api_body_file, "rb");
  if (!f) return strdup("{}");
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  size_t r;
  while ((r = fread(b + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) b = realloc(b, cap *= 2);
  }
  fclose(f);
  *len = n;
  return b;
}

static int write_all(int fd, const char *p, size_t n) {
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

static void *api_conn(void *arg) {
  int c = (int)(intptr_t)arg;
  if (api_hang) {
    for (;;) pause();
  }
  char buf[65536];
  size_t have = 0;
  for (;;) {
    char *hdr_end = memmem(buf, have, "\r\n\r\n", 4);
    if (!hdr_end) {
      if (have == sizeof buf) break;
      ssize_t n = read(c, buf + have, sizeof buf - have);
      if (n <= 0) break;
      have += (size_t)n;
      continue;
    }
    size_t hlen = (size_t)(hdr_end - buf) + 4;
    // Skip a request body (PUT/PATCH) by its Content-Length.
    size_t clen = 0;
    int close_after = 0;
    for (char *l = buf; l < hdr_end;) {
      char *e = memmem(l, (size_t)(hdr_end - l) + 2, "\r\n", 2);
      if (!e) break;
      if (strncasecmp(l, "content-length:", 15) == 0) clen = strtoul(l + 15, NULL, 10);
      if (strncasecmp(l, "connection:", 11) == 0 && memmem(l, (size_t)(e - l), "close", 5)) close_after = 1;
      l = e + 2;
    }
    while (have < hlen + clen && have < sizeof buf) {
      ssize_t n = read(c, buf + have, sizeof buf - have);
      if (n <= 0) goto out;
      have += (size_t)n;
    }
    int is_get = have >= 4 && memcmp(buf, "GET ", 4) == 0;
    add(&api_requests, 1);
    char head[256];
    if (is_get) {
      size_t blen;
      char *body = read_body(buf, hlen, &blen);
      int hl = snprintf(head, sizeof head,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", blen,
                        close_after ? "Connection: close\r\n" : "");
      int bad = write_all(c, head, (size_t)hl) || write_all(c, body, blen);
      free(body);
      if (bad) break;
    } else {
      int hl = snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\n%s\r\n", close_after ? "Connection: close\r\n" : "");
      if (write_all(c, head, (size_t)hl)) break;
    }
    size_t used = hlen + clen > have ? have : hlen + clen;
    memmove(buf, buf + used, have - used);
    have -= used;
    if (close_after) break;
  }
out:
  close(c);
  return NULL;
}

static void *api_server(void *arg) {
  int s = (int)(intptr_t)arg;
  prctl(PR_SET_NAME, "http-server", 0, 0, 0);
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      sleep_s(0.01);
      continue;
    }
    pthread_t th;
    pthread_create(&th, NULL, api_conn, (void *)(intptr_t)c);
    pthread_detach(th);
  }
  return NULL;
}

static int open_api_socket(const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a.sun_path) die("API socket path too long: %s", path);
  strcpy(a.sun_path, path);
  unlink(path);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind %s: %s", path, strerror(errno));
  if (listen(s, 64) < 0) die("listen %s: %s", path, strerror(errno));
  return s;
}

// ---------------------------------------------------------------- main

static const char *default_fmt(const char *argv0) {
  const char *b = strrchr(argv0, '/');
  b = b ? b + 1 : argv0;
  if (strcmp(b, "firecracker") == 0) return "fc_vcpu %d";
  if (strcmp(b, "crosvm") == 0) return "crosvm_vcpu%d";
  return "vcpu%d";
}

static int in_list(const char *list, int idx) {
  if (!list) return 0;
  if (strcmp(list, "all") == 0) return 1;
  char *copy = strdup(list), *save = NULL;
  int hit = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (atoi(tok) == idx) hit = 1;
  free(copy);
  return hit;
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
  pthread_t th;
  int e = pthread_create(&th, NULL, fn, arg);
  if (e) die("pthread_create: %s", strerror(e));
  return th;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--vpt-send-frames") == 0) {
    if (argc != 5) die("usage: %s --vpt-send-frames IFNAME COUNT SIZE", argv[0]);
    return send_frames(argv[2], atol(argv[3]), atol(argv[4]));
  }

  // Never outlive the test process that started us (a crashed run must not leave burners behind).
  if (env_ll("VPT_PDEATHSIG", 1)) {
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() == 1) return 0;
  }

  // Every thread inherits this mask; only the main thread takes the signals, with sigwaitinfo.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  status_file = getenv("VPT_STATUS_FILE");
  burn_duty = (double)env_ll("VPT_BURN_DUTY", 100);
  tx_rate = env_ll("VPT_TX_BYTES_PER_SEC", 0);
  tx_total = env_ll("VPT_TX_TOTAL", 0);
  frame_size = (long)env_ll("VPT_TX_FRAME_SIZE", 1000);
  if (frame_size < 28 || frame_size > 65535) die("VPT_TX_FRAME_SIZE must be 28..65535");
  if (tx_total > 0 && tx_total < 14) die("VPT_TX_TOTAL must be 0 or >= 14");
  reading_enabled = env_ll("VPT_READ_PAUSED", 0) ? 0 : 1;
  pulse_ms = env_ll("VPT_PULSE_MS", 0);
  pulse_burn_us = env_ll("VPT_PULSE_BURN_US", 0);
  pulse_tx_bytes = env_ll("VPT_PULSE_TX_BYTES", 0);
  if (pulse_ms < 0 || pulse_burn_us < 0 || pulse_tx_bytes < 0) die("VPT_PULSE_* must not be negative");
  if (pulse_ms > 0 && pulse_burn_us >= pulse_ms * 1000) die("VPT_PULSE_BURN_US must be shorter than the pulse");
  if (pulse_tx_bytes > 0 && pulse_tx_bytes < 14) die("VPT_PULSE_TX_BYTES must be 0 or >= 14");

  // Memory first, so READY means RSS has grown already.
  long mb = (long)env_ll("VPT_TOUCH_MB", 0);
  if (mb > 0) {
    size_t len = (size_t)mb << 20;
    unsigned char *m = malloc(len);
    if (!m) die("cannot allocate %ld MiB", mb);
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += (size_t)page) m[off] = 1;
    touched_mb = mb;
  }

  // TAPs.
  const char *tapl = getenv("VPT_TAPS");
  if (tapl && *tapl) {
    char *copy = strdup(tapl), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (ntaps == MAX_TAPS) die("too many TAPs");
      if (strlen(tok) >= IFNAMSIZ) die("TAP name too long: %s", tok);
      strcpy(taps[ntaps].name, tok);
      open_tap(&taps[ntaps]);
      ntaps++;
    }
    free(copy);
  }

  // Named threads.
  int n = (int)env_ll("VPT_THREADS", 0);
  if (n < 0 || n > MAX_THREADS) die("VPT_THREADS out of range");
  const char *fmt = env_str("VPT_THREAD_NAME_FMT", default_fmt(argv[0]));
  const char *burn = getenv("VPT_BURN");
  for (int i = 0; i < n; i++) {
    struct worker *w = &workers[nworkers++];
    w->index = i;
    snprintf(w->name, sizeof w->name, fmt, i);
    w->burn = in_list(burn, i);
  }
  const char *extra = getenv("VPT_EXTRA_THREADS");
  if (extra && *extra) {
    char *copy = strdup(extra), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (nworkers == MAX_THREADS) die("too many threads");
      struct worker *w = &workers[nworkers++];
      w->index = nworkers - 1;
      snprintf(w->name, sizeof w->name, "%s", tok);
      w->burn = 0;
    }
    free(copy);
  }
  for (int i = 0; i < nworkers; i++) spawn(worker_main, &workers[i]);
  pthread_mutex_lock(&start_lock);
  while (named_count < nworkers) pthread_cond_wait(&start_cond, &start_lock);
  pthread_mutex_unlock(&start_lock);

  for (int i = 0; i < ntaps; i++) {
    spawn(tap_reader, &taps[i]);
    if (tx_rate > 0 || tx_total > 0) spawn(tap_writer, &taps[i]);
  }

  api_socket_path = getenv("VPT_API_SOCKET");
  if (api_socket_path && *api_socket_path) {
    api_hang = env_ll("VPT_API_HANG", 0) != 0;
    api_body_file = getenv("VPT_API_BODY_FILE");
    int s = open_api_socket(api_socket_path);
    spawn(api_server, (void *)(intptr_t)s);
  } else {
    api_socket_path = NULL;
  }

  dump_status(0);
  printf("READY ");
  write_status_json(stdout, 0);
  printf("\n");
  fflush(stdout);
  writers_go = 1;

  // Pulses at a phase of their own (from the pid), so that stand-ins started together do not all
  // wake in the same millisecond.
  unsigned char *pulse_frame = pulse_ms > 0 ? malloc((size_t)frame_size + 64) : NULL;
  double next_pulse = now_s() + (pulse_ms > 0 ? (double)(getpid() % pulse_ms) / 1000.0 : 0);
  for (;;) {
    siginfo_t si;
    int sig;
    if (pulse_ms > 0) {
      double wait = next_pulse - now_s();
      if (wait <= 0) {
        pulse(pulse_frame);
        next_pulse += pulse_ms / 1000.0;
        if (next_pulse < now_s()) next_pulse = now_s() + pulse_ms / 1000.0;  // never catch up in a burst
        continue;
      }
      struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
      sig = sigtimedwait(&set, &si, &ts);
      if (sig < 0) continue;  // EAGAIN: the pulse is due; EINTR: look again
    } else {
      sig = sigwaitinfo(&set, &si);
    }
    if (sig == SIGUSR1) {
      dump_status(0);
    } else if (sig == SIGUSR2) {
      set_reading(1);
      dump_status(0);
    } else if (sig == SIGWINCH) {
      set_reading(0);
      dump_status(0);
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      break;
    }
  }
  if (api_socket_path) unlink(api_socket_path);
  dump_status(1);
  fflush(stdout);
  _exit(0);
}
