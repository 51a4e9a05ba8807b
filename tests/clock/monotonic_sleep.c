/* Preloaded before libfaketime by tests/clock/faketime.py.
 *
 * libfaketime 0.9.10 (Debian 12) rewrites absolute clock_nanosleep() deadlines on
 * CLOCK_MONOTONIC by the faked offset even under FAKETIME_DONT_FAKE_MONOTONIC=1, so
 * Python 3.11's time.sleep() (an absolute CLOCK_MONOTONIC sleep) fails with EINVAL.
 * The monotonic clock is not faked here, so its deadlines go to the kernel as they are;
 * CLOCK_REALTIME sleeps still go through libfaketime. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *req, struct timespec *rem) {
  static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
  if (clock_id != CLOCK_REALTIME) {
    /* clock_nanosleep() returns the error number instead of setting errno */
    return syscall(SYS_clock_nanosleep, clock_id, flags, req, rem) == -1 ? errno : 0;
  }
  if (next == NULL) {
    next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "clock_nanosleep");
  }
  return next(clock_id, flags, req, rem);
}
