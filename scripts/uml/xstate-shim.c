// LD_PRELOAD shim for Debian's linux.uml (6.1) on hosts whose XSAVE area outgrows UML's register buffer.
//
// UML saves and restores each guest process's FPU state with PTRACE_GETREGSET/SETREGSET(NT_X86_XSTATE)
// into a buffer of fixed size. The host kernel truncates a short GET, but refuses a SET shorter than its
// whole XSAVE area with EFAULT. On CPUs with AMX that area is about 11 KiB, larger than UML's buffer, so
// the guest's init dies at once ("ptrace set fp regs failed, errno = 14").
//
// The part UML does not keep (the AMX tile state, past the x87/SSE/AVX/AVX-512/PKRU components) is
// never used by guest processes: a process must ask the host for AMX permission, and they cannot. So a
// short SET is completed here: read the tracee's whole current area, lay UML's bytes over its start, and
// set the whole area. Every other call goes to libc's ptrace unchanged, so on hosts where the sizes agree
// this changes nothing.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

// Large enough for any XSAVE area the kernel reports today; static because UML calls ptrace on its own
// small kernel stacks, and it makes these calls from one thread.
static unsigned char whole[64 * 1024];
// The size of the host's whole area, once a SET has asked for it (0 before).
static size_t whole_size;

static ptrace_fn real_ptrace(void) {
  static ptrace_fn fn;
  if (fn == NULL) fn = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  return fn;
}

long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);

  ptrace_fn next = real_ptrace();
  if (request != PTRACE_SETREGSET || (unsigned long)addr != NT_X86_XSTATE || data == NULL) {
    return next((int)request, pid, addr, data);
  }
  struct iovec *given = data;
  if (given->iov_len >= whole_size && whole_size != 0) return next((int)request, pid, addr, data);
  struct iovec full = {.iov_base = whole, .iov_len = sizeof(whole)};
  if (next(PTRACE_GETREGSET, pid, addr, &full) < 0) return -1;
  whole_size = full.iov_len;
  if (given->iov_len >= full.iov_len) return next((int)request, pid, addr, data);
  memcpy(whole, given->iov_base, given->iov_len);
  return next((int)request, pid, addr, &full);
}
