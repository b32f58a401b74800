// What libvirt does for QEMU: open /dev/net/tun, attach it to an existing TAP with TUNSETIFF, and
// hand the open fd to QEMU, whose command line then names only the fd number, never the TAP.
//
//   tapfd-exec TAPNAME FD PROGRAM [ARG...]
//
// The tun fd is moved to FD without close-on-exec, then PROGRAM is exec'd in place (same PID).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s TAPNAME FD PROGRAM [ARG...]\n", argv[0]);
    return 2;
  }
  const char *tap = argv[1];
  int want = atoi(argv[2]);
  if (strlen(tap) >= IFNAMSIZ || want < 3) {
    fprintf(stderr, "tapfd-exec: bad TAP name or fd\n");
    return 2;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "tapfd-exec: open /dev/net/tun: %s\n", strerror(errno));
    return 2;
  }
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "tapfd-exec: TUNSETIFF %s: %s\n", tap, strerror(errno));
    return 2;
  }
  if (fd != want) {
    if (dup2(fd, want) < 0) {  // dup2 leaves the new fd without FD_CLOEXEC
      fprintf(stderr, "tapfd-exec: dup2: %s\n", strerror(errno));
      return 2;
    }
    close(fd);
  } else {
    fcntl(fd, F_SETFD, 0);
  }
  execvp(argv[3], argv + 3);
  fprintf(stderr, "tapfd-exec: exec %s: %s\n", argv[3], strerror(errno));
  return 127;
}
