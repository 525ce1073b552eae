/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "../inline/itgen.h"
#include "regress.h"

DEFINE_STATIC_KEY_FALSE(rg_exe_key);

/* In a fork child: cmocka's handlers of crash signals would turn a crash
 * into a longjmp back to its test runner, which would then go on running
 * the next tests inside the child.  Drop them (only theirs: the library
 * may have its own handler in front). */
static void drop_cmocka_handlers(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;
		Dl_info info;
		void *h;
		if (sigaction(sigs[i], NULL, &sa) != 0)
			continue;
		h = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction
					       : (void *)sa.sa_handler;
		if (h == (void *)SIG_DFL || h == (void *)SIG_IGN ||
		    !dladdr(h, &info) || !info.dli_fname ||
		    !strstr(info.dli_fname, "cmocka"))
			continue;
		signal(sigs[i], SIG_DFL);
	}
}

int rg_child(const char *name, int (*fn)(void *), void *arg, double seconds)
{
	double end;
	int status = 0;
	pid_t pid, w;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		int code;
		drop_cmocka_handlers();
		setvbuf(stdout, NULL, _IOLBF, 0); /* seen even if it dies */
		code = fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(code);
	}
	end = sc_now() + seconds;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && sc_now() < end)
		usleep(2000);
	if (w == 0) {
		fprintf(stderr,
			"%s: child %d still running after %.1f s: "
			"killed (a hang)\n",
			name, (int)pid, seconds);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -2;
	}
	if (WIFEXITED(status))
		printf("%s: child exited with %d\n", name, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%s: child killed by signal %d (%s)\n", name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	fflush(stdout);
	return status;
}

bool rg_exited(int status, int code)
{
	return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

bool rg_default_protocol(void)
{
	const char *p = getenv("STATICCALL_PROTOCOL");

	return !p || !*p || !strcmp(p, "auto") || !strcmp(p, "flip");
}

unsigned long long rg_traps(void)
{
	struct static_call_stats st = sc_test_stats();

	return st.traps_emulated + st.traps_rewound;
}

long long rg_memfd_bytes(int *nfds)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long long bytes = 0;

	*nfds = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], link[256];
		struct stat st;
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strncmp(link, "/memfd:", 7) != 0 || stat(path, &st) != 0)
			continue;
		bytes += (long long)st.st_blocks * 512;
		(*nfds)++;
	}
	closedir(d);
	return bytes;
}

int rg_memfd_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:") != NULL;
	fclose(f);
	return n;
}

struct rg_map {
	char perms[8];
	char dev[16];
	unsigned long ino;
	char line[512];
};

int rg_code_aliases(void)
{
	static struct rg_map m[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0, bad = 0;

	if (!f)
		return -1;
	while (n < 4096 && fgets(line, sizeof(line), f)) {
		struct rg_map *p = &m[n];
		if (sscanf(line, "%*s %7s %*s %15s %lu", p->perms, p->dev,
			   &p->ino) != 3)
			continue;
		snprintf(p->line, sizeof(p->line), "%s", line);
		n++;
	}
	fclose(f);
	for (int i = 0; i < n; i++) {
		if (m[i].perms[1] == 'w' && m[i].perms[2] == 'x') {
			fprintf(stderr, "writable and executable: %s",
				m[i].line);
			bad++;
			continue;
		}
		if (m[i].ino == 0 || m[i].perms[1] != 'w' ||
		    m[i].perms[3] != 's')
			continue;
		for (int j = 0; j < n; j++) {
			if (m[j].perms[2] != 'x' || m[j].ino != m[i].ino ||
			    strcmp(m[j].dev, m[i].dev) != 0)
				continue;
			fprintf(stderr,
				"writable alias of code: %s  executable: %s",
				m[i].line, m[j].line);
			bad++;
			break;
		}
	}
	return bad;
}

void rg_settle(void) { assert_int_equal(sc_test_wait_unblocked(), 0); }

void rg_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	assert_int_equal(pthread_create(t, NULL, fn, arg), 0);
}

int rg_mod_open(const char *path, struct rg_mod *m)
{
	m->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->h) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	*(void **)&m->probe_exe = dlsym(m->h, "rgm_probe_exe");
	*(void **)&m->probe_own = dlsym(m->h, "rgm_probe_own");
	*(void **)&m->call = dlsym(m->h, "rgm_call");
	*(void **)&m->update = dlsym(m->h, "rgm_update");
	*(void **)&m->toggle = dlsym(m->h, "rgm_toggle");
	if (!m->probe_exe || !m->probe_own || !m->call || !m->update ||
	    !m->toggle) {
		fprintf(stderr, "dlsym in %s: %s\n", path, dlerror());
		return -1;
	}
	return 0;
}

int rg_mod_close(struct rg_mod *m)
{
	int r = dlclose(m->h);

	m->h = NULL;
	return r;
}

long rg_raw_fork(void)
{
#ifdef SYS_fork
	return syscall(SYS_fork);
#else
	return syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
#endif
}

void rg_update_loop(double seconds, struct itg *call_gen, int ntargets,
		    int (*set)(int k), struct itg *key_gen,
		    struct static_key_false *key, struct rg_updates *out)
{
	double end = sc_now() + sc_test_seconds(seconds);

	memset(out, 0, sizeof(*out));
	for (unsigned long i = 1; sc_now() < end; i++) {
		int k = (int)(i % (unsigned long)ntargets), on = (int)(i & 1);
		unsigned long g = itg_publish(call_gen, k);
		int err = set(k);
		if (err == 0)
			itg_commit(call_gen, g);
		else
			itg_commit(call_gen,
				   itg_publish(call_gen,
					       (int)((i - 1) %
						     (unsigned long)ntargets)));
		out->errors += err != 0;
		out->first = out->first ? out->first : err;
		g = itg_publish(key_gen, on);
		err = on ? static_branch_enable(key)
			 : static_branch_disable(key);
		if (err == 0)
			itg_commit(key_gen, g);
		else
			itg_commit(key_gen, itg_publish(key_gen, !on));
		out->errors += err != 0;
		out->first = out->first ? out->first : err;
		out->ops += 2;
	}
}

int rg_hide_proc(void)
{
	int fd;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 &&
	    (geteuid() != 0 || unshare(CLONE_NEWNS) != 0)) {
		printf("no mount namespace of our own here (%s): skipped\n",
		       strerror(errno));
		return RG_SKIP;
	}
	/* nothing mounted here may reach the parent's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("none", "/proc", "tmpfs", 0, NULL) != 0) {
		printf("cannot hide /proc (%s): skipped\n", strerror(errno));
		return RG_SKIP;
	}
	fd = open("/proc/self/maps", O_RDONLY);
	RG_CHECK(fd < 0, "/proc/self/maps is still there");
	return 0;
}

static struct rg_mod *unload_mod;
static int unload_result = -1;

static void unload_hook(enum static_call_trace_step step, unsigned int n)
{
	struct rg_mod *m = unload_mod;

	(void)n;
	if (!m || step != STATIC_CALL_TRACE_BEGIN)
		return;
	unload_mod = NULL;
	unload_result = rg_mod_close(m);
}

void rg_unload_at_next_begin(struct rg_mod *m)
{
	RG_CHECK(static_call_update(static_call_trace_hook, unload_hook) == 0,
		 "hook");
	unload_result = -1;
	unload_mod = m;
}

int rg_unload_hook_off(void)
{
	RG_CHECK(static_call_update(static_call_trace_hook, NULL) == 0,
		 "hook off");
	unload_mod = NULL;
	return unload_result;
}
