// C reference for `npm run bench`: the floor the agent's per-VM cost is compared with. It opens
// the same files the agent's VmReader keeps open (the bench writes them to a list), and every tick
// re-reads each with pread at offset 0 (which makes procfs/sysfs regenerate the content) and
// parses the numbers the agent takes from it. It reports its own CPU time (getrusage) over the
// measured ticks only, and each tick's wall time.
//
//   reference LISTFILE WARMUP_TICKS TICKS
// LISTFILE: one "<role> <path>" per line, "vm" lines start a VM. Roles: stat statm status io
// sched ctr cpustat1 cpustat2 (a VM's files), "tap <name>" (a VM's TAP, read from a netdev file)
// and "netdev <path>" (one /proc/<pid>/net/dev per network namespace, read once per tick to its
// end and parsed for the listed TAPs only, the agent's strategy). "ctr" lines are the old
// strategy: one sysfs statistics file per counter per TAP.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum role { R_STAT, R_STATM, R_STATUS, R_IO, R_SCHED, R_CTR, R_CPUSTAT1, R_CPUSTAT2, R_NETDEV, R_TAP };

struct file { int fd; int role; int vm; };

// What the agent's VmSample carries, per VM.
struct sample {
  uint64_t utime, stime, threads, vsize, rss_pages, size_pages, resident_pages;
  uint64_t hwm_kb, swap_kb, read_bytes, write_bytes, run_ns, wait_ns;
  uint64_t ctr[8];
  int nctr;
  uint64_t periods, throttled, throttled_ns;
};

static const char *num(const char *p, const char *end, uint64_t *out) {
  while (p < end && (*p < '0' || *p > '9')) p++;
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
  *out = v;
  return p;
}

static const char *skip_fields(const char *p, const char *end, int n) {
  while (n-- > 0) {
    while (p < end && *p != ' ') p++;
    if (p < end) p++;
  }
  return p;
}

// Value of "key" (which includes its ':' or trailing space) at the start of a line, or 0.
static uint64_t keyed(const char *buf, const char *end, const char *key) {
  size_t kl = strlen(key);
  const char *p = buf;
  while (p < end) {
    if ((size_t)(end - p) >= kl && memcmp(p, key, kl) == 0) {
      uint64_t v;
      num(p + kl, end, &v);
      return v;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) break;
    p = nl + 1;
  }
  return 0;
}

// TAP name -> VM, open addressing (names are at most 15 bytes).
#define TAPS_CAP (1 << 16)
static char tap_names[TAPS_CAP][16];
static int tap_vm[TAPS_CAP];

static uint32_t hash(const char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

static void tap_add(const char *name, int vm) {
  size_t n = strlen(name);
  if (n > 15) n = 15;
  for (uint32_t i = hash(name, n) & (TAPS_CAP - 1);; i = (i + 1) & (TAPS_CAP - 1)) {
    if (!tap_names[i][0]) {
      memcpy(tap_names[i], name, n);
      tap_vm[i] = vm;
      return;
    }
  }
}

static int tap_find(const char *p, size_t n) {
  if (n == 0 || n > 15) return -1;
  for (uint32_t i = hash(p, n) & (TAPS_CAP - 1); tap_names[i][0]; i = (i + 1) & (TAPS_CAP - 1))
    if (strlen(tap_names[i]) == n && memcmp(tap_names[i], p, n) == 0) return tap_vm[i];
  return -1;
}

static char *big;
static size_t big_cap = 1 << 16;

// One namespace's /proc/<pid>/net/dev: read to its end, the listed TAPs' 8 counters parsed.
static int read_netdev(int fd, struct sample *s) {
  size_t at = 0;
  for (;;) {
    if (at == big_cap) big = realloc(big, big_cap *= 2);
    ssize_t len = pread(fd, big + at, big_cap - at, (off_t)at);
    if (len < 0) return -1;
    if (len == 0) break;
    at += (size_t)len;
  }
  const char *p = big, *end = big + at;
  for (int h = 0; h < 2 && p < end; h++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    while (p < le && *p == ' ') p++;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    int vm = colon ? tap_find(p, (size_t)(colon - p)) : -1;
    if (vm >= 0) {
      uint64_t f[16];
      const char *q = colon + 1;
      for (int i = 0; i < 16; i++) q = num(q, le, &f[i]);
      struct sample *x = &s[vm];
      uint64_t v[8] = {f[0], f[8], f[1], f[9], f[2], f[10], f[3], f[11]};
      for (int i = 0; i < 8; i++) x->ctr[i] = v[i];
      x->nctr = 8;
    }
    p = le + 1;
  }
  return 0;
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s LISTFILE WARMUP TICKS\n", argv[0]);
    return 2;
  }
  int warmup = atoi(argv[2]), ticks = atoi(argv[3]);
  FILE *list = fopen(argv[1], "r");
  if (!list) {
    perror(argv[1]);
    return 2;
  }
  size_t cap = 1024, n = 0;
  struct file *files = malloc(cap * sizeof *files);
  int vms = 0;
  char line[4096], path[4096], role[32];
  while (fgets(line, sizeof line, list)) {
    if (sscanf(line, "%31s %4095s", role, path) < 1) continue;
    if (strcmp(role, "vm") == 0) {
      vms++;
      continue;
    }
    static const char *names[] = {"stat", "statm", "status", "io", "sched", "ctr", "cpustat1", "cpustat2", "netdev", "tap"};
    int r = -1;
    for (int i = 0; i < 10; i++)
      if (strcmp(role, names[i]) == 0) r = i;
    if (r == R_TAP && vms > 0) {
      tap_add(path, vms - 1);
      continue;
    }
    if (r < 0 || (vms == 0 && r != R_NETDEV)) {
      fprintf(stderr, "bad line: %s", line);
      return 2;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "open %s: %s\n", path, strerror(errno));
      return 1;
    }
    if (n == cap) files = realloc(files, (cap *= 2) * sizeof *files);
    files[n++] = (struct file){fd, r, r == R_NETDEV ? -1 : vms - 1};
  }
  fclose(list);

  struct sample *s = calloc((size_t)vms, sizeof *s);
  double *wall = calloc((size_t)ticks, sizeof *wall);
  long errors = 0;
  uint64_t checksum = 0;
  double cpu0 = 0;
  char buf[4096];
  big = malloc(big_cap);
  for (int t = 0; t < warmup + ticks; t++) {
    if (t == warmup) cpu0 = cpu_us();
    double w0 = now_us();
    for (int v = 0; v < vms; v++) s[v].nctr = 0, s[v].run_ns = 0, s[v].wait_ns = 0;
    for (size_t i = 0; i < n; i++) {
      if (files[i].role == R_NETDEV) {
        if (read_netdev(files[i].fd, s) < 0) errors++;
        continue;
      }
      ssize_t len = pread(files[i].fd, buf, sizeof buf - 1, 0);
      if (len <= 0) {
        errors++;
        continue;
      }
      const char *end = buf + len, *p;
      struct sample *x = &s[files[i].vm];
      uint64_t a, b;
      switch (files[i].role) {
        case R_STAT:
          p = memrchr(buf, ')', (size_t)len);
          if (!p) {
            errors++;
            break;
          }
          p = skip_fields(p + 2, end, 11);  // now at field 14 (utime)
          p = num(p, end, &x->utime);
          p = num(p, end, &x->stime);
          p = skip_fields(p + 1, end, 4);  // fields 16..19
          p = num(p, end, &x->threads);
          p = skip_fields(p + 1, end, 2);  // fields 21, 22
          p = num(p, end, &x->vsize);
          num(p, end, &x->rss_pages);
          break;
        case R_STATM:
          p = num(buf, end, &x->size_pages);
          num(p, end, &x->resident_pages);
          break;
        case R_STATUS:
          x->hwm_kb = keyed(buf, end, "VmHWM:");
          x->swap_kb = keyed(buf, end, "VmSwap:");
          break;
        case R_IO:
          x->read_bytes = keyed(buf, end, "read_bytes:");
          x->write_bytes = keyed(buf, end, "write_bytes:");
          break;
        case R_SCHED:
          p = num(buf, end, &a);
          num(p, end, &b);
          x->run_ns += a;
          x->wait_ns += b;
          break;
        case R_CTR:
          num(buf, end, &x->ctr[x->nctr++ & 7]);
          break;
        case R_CPUSTAT1:
        case R_CPUSTAT2:
          x->periods = keyed(buf, end, "nr_periods ");
          x->throttled = keyed(buf, end, "nr_throttled ");
          x->throttled_ns = files[i].role == R_CPUSTAT1 ? keyed(buf, end, "throttled_time ")
                                                        : keyed(buf, end, "throttled_usec ") * 1000;
          break;
      }
    }
    // Touch every result so that nothing above can be optimised away.
    for (int v = 0; v < vms; v++) checksum += s[v].utime + s[v].resident_pages + s[v].hwm_kb + s[v].read_bytes + s[v].run_ns + s[v].ctr[0] + s[v].periods;
    if (t >= warmup) wall[t - warmup] = now_us() - w0;
  }
  double cpu = cpu_us() - cpu0;
  printf("{\"vms\":%d,\"files\":%zu,\"ticks\":%d,\"cpu_us\":%.0f,\"errors\":%ld,\"checksum\":%llu,\"tick_wall_us\":[", vms, n,
         ticks, cpu, errors, (unsigned long long)checksum);
  for (int t = 0; t < ticks; t++) printf("%s%.0f", t ? "," : "", wall[t]);
  printf("]}\n");
  return errors ? 1 : 0;
}
