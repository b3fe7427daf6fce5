/*
 * append_watch.c — wake-ups on appends (see append_watch.h).
 *
 * Each watch owns one bit: a slot in the store's table (eventfd per slot, created on
 * first use, closed at store close so an append racing a free never writes to a
 * closed or reused fd number). A partition's watch_mask holds the bits armed on it,
 * the table's all_mask the bits armed on every partition. Ordering: the appender
 * stores the stored watermark and then loads the masks, the owner sets its bit and
 * then loads the watermark, all seq_cst, so one of them sees the other.
 */
#include "bridge/store/append_watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/store/store_int.h"

struct mqb_append_watch {
	mqb_append_watchers_t *tab;
	int slot;
	int efd;
};

void mqb_append_watchers__init(mqb_append_watchers_t *t)
{
	pthread_mutex_init(&t->mu, NULL);
	for (int i = 0; i < MQB_APPEND_WATCH_MAX; i++)
		atomic_init(&t->efd[i], -1);
	atomic_init(&t->all_mask, 0);
	t->used = 0;
}

void mqb_append_watchers__fini(mqb_append_watchers_t *t)
{
	for (int i = 0; i < MQB_APPEND_WATCH_MAX; i++) {
		int fd = atomic_load(&t->efd[i]);
		if (fd >= 0)
			close(fd);
	}
	pthread_mutex_destroy(&t->mu);
}

static void fire(mqb_append_watchers_t *t, uint32_t bits)
{
	while (bits) {
		int i = __builtin_ctz(bits);
		int fd = atomic_load_explicit(&t->efd[i], memory_order_acquire);
		uint64_t one = 1;

		bits &= bits - 1;
		/* EAGAIN only at a counter near 2^64: it is readable anyway */
		if (fd >= 0 && write(fd, &one, sizeof one) < 0)
			(void)errno;
	}
}

void mqb_append_watchers__appended(mqb_append_watchers_t *t, _Atomic uint32_t *pmask)
{
	uint32_t bits;

	if (!atomic_load(pmask) && !atomic_load(&t->all_mask))
		return;                        /* the common case: nobody waits */
	bits = atomic_exchange(pmask, 0);
	if (atomic_load(&t->all_mask))
		bits |= atomic_exchange(&t->all_mask, 0);
	fire(t, bits);
}

mqb_append_watch_t *mqb_append_watch_new(mqb_store_t *st, char *errstr, size_t errstr_size)
{
	mqb_append_watchers_t *t = mqb_store__watchers(st);
	mqb_append_watch_t *w = calloc(1, sizeof *w);
	int slot = -1;

	if (!w) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < MQB_APPEND_WATCH_MAX && slot < 0; i++)
		if (!(t->used & (1u << i)))
			slot = i;
	if (slot < 0) {
		pthread_mutex_unlock(&t->mu);
		free(w);
		mqb_errstr_set(errstr, errstr_size, "append watch: all %d slots taken",
			       MQB_APPEND_WATCH_MAX);
		return NULL;
	}
	if (atomic_load(&t->efd[slot]) < 0) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			pthread_mutex_unlock(&t->mu);
			free(w);
			mqb_errstr_set(errstr, errstr_size, "append watch: eventfd: %s",
				       strerror(errno));
			return NULL;
		}
		atomic_store_explicit(&t->efd[slot], fd, memory_order_release);
	}
	t->used |= 1u << slot;
	pthread_mutex_unlock(&t->mu);
	w->tab = t;
	w->slot = slot;
	w->efd = atomic_load(&t->efd[slot]);
	mqb_append_watch_drain(w);             /* a previous owner's leftovers */
	return w;
}

void mqb_append_watch_free(mqb_append_watch_t *w)
{
	if (!w)
		return;
	/* the bit may stay armed on partitions: the next owner gets one spurious fire */
	pthread_mutex_lock(&w->tab->mu);
	w->tab->used &= ~(1u << w->slot);
	pthread_mutex_unlock(&w->tab->mu);
	free(w);
}

int mqb_append_watch_fd(const mqb_append_watch_t *w) { return w->efd; }

void mqb_append_watch_arm(mqb_append_watch_t *w, mqb_partition_t *p)
{
	atomic_fetch_or(&p->watch_mask, 1u << w->slot);
}

void mqb_append_watch_arm_all(mqb_append_watch_t *w)
{
	atomic_fetch_or(&w->tab->all_mask, 1u << w->slot);
}

uint64_t mqb_append_watch_drain(mqb_append_watch_t *w)
{
	uint64_t n = 0;

	if (read(w->efd, &n, sizeof n) != (ssize_t)sizeof n)
		return 0;
	return n;
}
