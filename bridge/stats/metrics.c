/*
 * metrics.c — the metrics registry: owned instruments (counters, gauges, histograms
 * with labels), scrape-time collectors, JSON sections, and the Prometheus 0.0.4 and
 * JSON renderers. See metrics.h for the contract.
 *
 * Locking: reg->lock guards the lists (families, series, collectors, sections). It is
 * taken to register, and by the renderer while it walks owned instruments (atomic
 * loads and formatting only). Updates (mqb_counter_add, mqb_histogram_observe) never
 * take it. Collectors and JSON functions run with the lock released.
 */
#include "bridge/stats/metrics.h"
#include "bridge/sbuf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"

#define MOD "metrics"
#define MAX_LABELS 16

enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };
static const char *const type_names[] = { "counter", "gauge", "histogram" };

struct mqb_histogram {
	size_t nbounds;
	double *bounds;
	_Atomic uint64_t *counts;   /* nbounds + 1 (the last is +Inf), not cumulative */
	_Atomic uint64_t sum_bits;  /* a double, updated by CAS */
};

struct series {
	struct series *next;
	char *labels;               /* rendered: a="x",b="y" (escaped), "" when none */
	union {
		mqb_counter_t c;
		mqb_gauge_t g;
		mqb_histogram_t h;
	} u;
};

struct family {
	struct family *next;
	char *name, *help;
	enum mtype type;
	int64_t scale;              /* counters: rendered value = v / scale */
	struct series *head, *tail;
};

struct collector { mqb_collector_fn *fn; void *arg; };
struct hinit { double *bounds; _Atomic uint64_t *counts; size_t nbounds; };
struct section { char *name; mqb_json_fn *fn; void *arg; };
struct on_destroy { struct on_destroy *next; void (*fn)(void *); void *arg; };

struct mqb_metrics {
	pthread_mutex_t lock;
	struct family *head, *tail;
	struct collector *coll; size_t ncoll, capcoll;
	struct section *sect; size_t nsect, capsect;
	struct on_destroy *dtors;
};

/* --- names and escaping -------------------------------------------------------------- */

static bool name_valid(const char *s, bool metric)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	if (!metric && s[0] == '_' && s[1] == '_')
		return false;             /* reserved for Prometheus' own labels */
	return true;
}

static void esc_label_value(mqb_sbuf_t *b, const char *v)
{
	for (; *v; v++) {
		size_t run = strcspn(v, "\\\"\n");   /* copy plain runs at once */
		if (run) {
			mqb_sbuf_append(b, v, run);
			v += run;
			if (!*v)
				break;
		}
		switch (*v) {
		case '\\': mqb_sbuf_puts(b, "\\\\"); break;
		case '"':  mqb_sbuf_puts(b, "\\\""); break;
		case '\n': mqb_sbuf_puts(b, "\\n"); break;
		default:   mqb_sbuf_putc(b, *v);
		}
	}
}

static void esc_help(mqb_sbuf_t *b, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\\': mqb_sbuf_puts(b, "\\\\"); break;
		case '\n': mqb_sbuf_puts(b, "\\n"); break;
		default:   mqb_sbuf_putc(b, *v);
		}
	}
}

/* Render the NULL-terminated name/value pairs of ap into b as a="x",b="y".
 * Returns false (b unchanged in meaning) on an invalid or reserved label name. */
static bool labels_render(mqb_sbuf_t *b, const char *metric, va_list ap, bool histogram)
{
	const char *names[MAX_LABELS];
	size_t n = 0;
	const char *k;

	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		if (!name_valid(k, false) || (histogram && strcmp(k, "le") == 0)) {
			mqb_error(MOD, "%s: invalid label name \"%s\"", metric, k);
			return false;
		}
		if (n == MAX_LABELS) {
			mqb_error(MOD, "%s: more than %d labels", metric, MAX_LABELS);
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(names[i], k) == 0) {
				mqb_error(MOD, "%s: label \"%s\" given twice", metric, k);
				return false;
			}
		}
		names[n++] = k;
		if (b->len)
			mqb_sbuf_putc(b, ',');
		mqb_sbuf_puts(b, k);
		mqb_sbuf_puts(b, "=\"");
		esc_label_value(b, v ? v : "");
		mqb_sbuf_putc(b, '"');
	}
	return true;
}

/* Integers without printf: scrapes format hundreds of them (offsets, counters). */
static void put_u64(mqb_sbuf_t *b, uint64_t v)
{
	char t[24];
	int i = (int)sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	mqb_sbuf_append(b, t + i, sizeof(t) - (size_t)i);
}

static void put_i64(mqb_sbuf_t *b, int64_t v)
{
	if (v < 0) {
		mqb_sbuf_putc(b, '-');
		put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(b, (uint64_t)v);
	}
}

/* Shortest text that reads back as the same double; Prometheus spellings for
 * infinities and NaN. */
static void fmt_double(mqb_sbuf_t *b, double v)
{
	char tmp[40];

	if (isnan(v)) {
		mqb_sbuf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		mqb_sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		put_i64(b, (int64_t)v);
		return;
	}
	/* %g drops trailing zeros, so when some k <= 15 digits read back, %.15g prints
	 * exactly those k (the value is within half an ulp of that k-digit decimal, far
	 * inside the 15-digit rounding step): start at 15, not at 1 (up to 15 snprintf +
	 * strtod pairs per sample were a third of a 1024-partition render) */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	mqb_sbuf_puts(b, tmp);
}

/* --- registry ------------------------------------------------------------------------ */

mqb_metrics_t *mqb_metrics_new(void)
{
	mqb_metrics_t *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return NULL;
	pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

static void series_free(struct series *s, enum mtype t)
{
	if (t == MT_HISTOGRAM) {
		free(s->u.h.bounds);
		free((void *)s->u.h.counts);
	}
	free(s->labels);
	free(s);
}

void mqb_metrics_destroy(mqb_metrics_t *reg)
{
	if (!reg)
		return;
	for (struct family *f = reg->head, *fn; f; f = fn) {
		fn = f->next;
		for (struct series *s = f->head, *sn; s; s = sn) {
			sn = s->next;
			series_free(s, f->type);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	for (size_t i = 0; i < reg->nsect; i++)
		free(reg->sect[i].name);
	free(reg->sect);
	free(reg->coll);
	for (struct on_destroy *d = reg->dtors, *dn; d; d = dn) {
		dn = d->next;
		d->fn(d->arg);
		free(d);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

int mqb_metrics_on_destroy(mqb_metrics_t *reg, void (*fn)(void *arg), void *arg)
{
	struct on_destroy *d;

	if (!reg || !fn)
		return MQB_ERR_INVAL;
	d = malloc(sizeof(*d));
	if (!d)
		return MQB_ERR_NOMEM;
	d->fn = fn;
	d->arg = arg;
	pthread_mutex_lock(&reg->lock);
	d->next = reg->dtors;
	reg->dtors = d;
	pthread_mutex_unlock(&reg->lock);
	return MQB_OK;
}

static struct family *family_find(mqb_metrics_t *reg, const char *name)
{
	for (struct family *f = reg->head; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/*
 * Find or create the series name{labels} of type t. Called with reg->lock held.
 * A new histogram series takes the arrays in *hi (and NULLs them there).
 */
static struct series *series_get(mqb_metrics_t *reg, const char *name, const char *help,
				 enum mtype t, int64_t scale, const char *labels,
				 struct hinit *hi)
{
	struct family *f = family_find(reg, name);
	struct series *s;

	if (f && f->type != t) {
		mqb_error(MOD, "%s: registered as %s, asked for as %s", name,
			  type_names[f->type], type_names[t]);
		return NULL;
	}
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return NULL;
		f->name = strdup(name);
		f->help = strdup(help ? help : "");
		f->type = t;
		f->scale = scale > 0 ? scale : 1;
		if (!f->name || !f->help) {
			free(f->name);
			free(f->help);
			free(f);
			return NULL;
		}
		if (reg->tail)
			reg->tail->next = f;
		else
			reg->head = f;
		reg->tail = f;
	}
	for (s = f->head; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->labels = strdup(labels);
	if (!s->labels) {
		free(s);
		return NULL;
	}
	if (f->tail)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	if (t == MT_GAUGE)
		s->u.g.scale = scale > 0 ? scale : 1;
	if (t == MT_HISTOGRAM && hi) {          /* the series takes the arrays */
		s->u.h.bounds = hi->bounds;
		s->u.h.counts = hi->counts;
		s->u.h.nbounds = hi->nbounds;
		hi->bounds = NULL;
		hi->counts = NULL;
	}
	return s;
}

static struct series *instrument(mqb_metrics_t *reg, const char *name, const char *help,
				 enum mtype t, int64_t scale, va_list ap, struct hinit *hi)
{
	mqb_sbuf_t lb = MQB_SBUF_INIT;
	struct series *s = NULL;

	if (!reg)
		return NULL;
	if (!name_valid(name, true)) {
		mqb_error(MOD, "invalid metric name \"%s\"", name ? name : "(null)");
		return NULL;
	}
	if (!labels_render(&lb, name, ap, t == MT_HISTOGRAM) || lb.oom)
		goto out;
	pthread_mutex_lock(&reg->lock);
	s = series_get(reg, name, help, t, scale, lb.p ? lb.p : "", hi);
	pthread_mutex_unlock(&reg->lock);
out:
	mqb_sbuf_free(&lb);
	return s;
}

mqb_counter_t *mqb_metrics_counter(mqb_metrics_t *reg, const char *name,
				   const char *help, ...)
{
	va_list ap;
	struct series *s;

	va_start(ap, help);
	s = instrument(reg, name, help, MT_COUNTER, 1, ap, NULL);
	va_end(ap);
	return s ? &s->u.c : NULL;
}

mqb_counter_t *mqb_metrics_counter_scaled(mqb_metrics_t *reg, const char *name,
					  const char *help, int64_t scale, ...)
{
	va_list ap;
	struct series *s;

	va_start(ap, scale);
	s = instrument(reg, name, help, MT_COUNTER, scale, ap, NULL);
	va_end(ap);
	return s ? &s->u.c : NULL;
}

mqb_gauge_t *mqb_metrics_gauge(mqb_metrics_t *reg, const char *name, const char *help,
			       int64_t scale, ...)
{
	va_list ap;
	struct series *s;

	va_start(ap, scale);
	s = instrument(reg, name, help, MT_GAUGE, scale, ap, NULL);
	va_end(ap);
	return s ? &s->u.g : NULL;
}

mqb_histogram_t *mqb_metrics_histogram(mqb_metrics_t *reg, const char *name,
				       const char *help, const double *bounds,
				       size_t nbounds, ...)
{
	va_list ap;
	struct series *s;
	struct hinit hi = { NULL, NULL, nbounds };

	for (size_t i = 0; i < nbounds; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
			mqb_error(MOD, "%s: histogram bounds must be finite and ascending", name);
			return NULL;
		}
	}
	hi.bounds = malloc((nbounds ? nbounds : 1) * sizeof(*hi.bounds));
	hi.counts = calloc(nbounds + 1, sizeof(*hi.counts));
	if (!hi.bounds || !hi.counts) {
		s = NULL;
		goto out;
	}
	if (nbounds)
		memcpy(hi.bounds, bounds, nbounds * sizeof(*hi.bounds));
	va_start(ap, nbounds);
	s = instrument(reg, name, help, MT_HISTOGRAM, 1, ap, &hi);
	va_end(ap);
out:
	free(hi.bounds);            /* NULL when the new series took them */
	free((void *)hi.counts);
	return s ? &s->u.h : NULL;
}

void mqb_histogram_observe(mqb_histogram_t *h, double value)
{
	size_t lo = 0, hi;
	uint64_t old, nw;
	double sum;

	if (!h || !h->counts || isnan(value))
		return;
	hi = h->nbounds;               /* first bound >= value, or nbounds (+Inf) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (value <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
	old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	do {
		memcpy(&sum, &old, sizeof(sum));
		sum += value;
		memcpy(&nw, &sum, sizeof(nw));
	} while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, nw,
							memory_order_relaxed,
							memory_order_relaxed));
}

void mqb_metrics_add_collector(mqb_metrics_t *reg, mqb_collector_fn *fn, void *arg)
{
	if (!reg || !fn)
		return;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->ncoll; i++)
		if (reg->coll[i].fn == fn && reg->coll[i].arg == arg)
			goto out;
	if (reg->ncoll == reg->capcoll) {
		size_t cap = reg->capcoll ? reg->capcoll * 2 : 8;
		struct collector *v = realloc(reg->coll, cap * sizeof(*v));
		if (!v) {
			mqb_error(MOD, "out of memory adding a collector");
			goto out;
		}
		reg->coll = v;
		reg->capcoll = cap;
	}
	reg->coll[reg->ncoll++] = (struct collector){ fn, arg };
out:
	pthread_mutex_unlock(&reg->lock);
}

void mqb_metrics_add_json(mqb_metrics_t *reg, const char *section, mqb_json_fn *fn, void *arg)
{
	char *name;

	if (!reg || !fn || !section || !*section)
		return;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->nsect; i++)
		if (reg->sect[i].fn == fn && reg->sect[i].arg == arg &&
		    strcmp(reg->sect[i].name, section) == 0)
			goto out;
	if (reg->nsect == reg->capsect) {
		size_t cap = reg->capsect ? reg->capsect * 2 : 8;
		struct section *v = realloc(reg->sect, cap * sizeof(*v));
		if (!v)
			goto oom;
		reg->sect = v;
		reg->capsect = cap;
	}
	name = strdup(section);
	if (!name)
		goto oom;
	reg->sect[reg->nsect++] = (struct section){ name, fn, arg };
	goto out;
oom:
	mqb_error(MOD, "out of memory adding JSON section %s", section);
out:
	pthread_mutex_unlock(&reg->lock);
}

/* --- Prometheus rendering ------------------------------------------------------------ */

struct rfam {
	char *name, *help;
	enum mtype type;
	mqb_sbuf_t body;
};

struct mqb_metrics_emit {
	struct rfam *v;
	size_t n, cap;
	bool oom;
};

static struct rfam *rfam_get(mqb_metrics_emit_t *e, const char *name, const char *help,
			     enum mtype type)
{
	for (size_t i = e->n; i-- > 0;)
		if (strcmp(e->v[i].name, name) == 0)
			return &e->v[i];
	if (!name_valid(name, true)) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "collector: invalid metric "
				    "name \"%s\"; dropped", name);
		return NULL;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		struct rfam *v = realloc(e->v, cap * sizeof(*v));
		if (!v) {
			e->oom = true;
			return NULL;
		}
		e->v = v;
		e->cap = cap;
	}
	struct rfam *r = &e->v[e->n];
	r->name = strdup(name);
	r->help = strdup(help ? help : "");
	r->type = type;
	r->body = (mqb_sbuf_t)MQB_SBUF_INIT;
	if (!r->name || !r->help) {
		free(r->name);
		free(r->help);
		e->oom = true;
		return NULL;
	}
	e->n++;
	return r;
}

static void sample_line(mqb_sbuf_t *b, const char *name, const char *suffix,
			const char *labels, const char *extra)
{
	mqb_sbuf_puts(b, name);
	mqb_sbuf_puts(b, suffix);
	if (*labels || extra) {
		mqb_sbuf_putc(b, '{');
		mqb_sbuf_puts(b, labels);
		if (extra) {
			if (*labels)
				mqb_sbuf_putc(b, ',');
			mqb_sbuf_puts(b, extra);
		}
		mqb_sbuf_putc(b, '}');
	}
	mqb_sbuf_putc(b, ' ');
}

static void render_histogram(mqb_sbuf_t *b, const char *name, const struct series *s)
{
	const mqb_histogram_t *h = &s->u.h;
	uint64_t cum = 0, bits;
	double sum;
	mqb_sbuf_t le = MQB_SBUF_INIT;

	if (!h->counts)
		return;
	for (size_t i = 0; i <= h->nbounds; i++) {
		cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		le.len = 0;
		mqb_sbuf_puts(&le, "le=\"");
		if (i < h->nbounds)
			fmt_double(&le, h->bounds[i]);
		else
			mqb_sbuf_puts(&le, "+Inf");
		mqb_sbuf_putc(&le, '"');
		sample_line(b, name, "_bucket", s->labels, le.p ? le.p : "");
		put_u64(b, cum);
		mqb_sbuf_putc(b, '\n');
	}
	bits = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	memcpy(&sum, &bits, sizeof(sum));
	sample_line(b, name, "_sum", s->labels, NULL);
	fmt_double(b, sum);
	mqb_sbuf_putc(b, '\n');
	sample_line(b, name, "_count", s->labels, NULL);
	put_u64(b, cum);
	mqb_sbuf_putc(b, '\n');
	mqb_sbuf_free(&le);
}

static void render_owned(mqb_metrics_t *reg, mqb_metrics_emit_t *e)
{
	for (struct family *f = reg->head; f; f = f->next) {
		struct rfam *r = rfam_get(e, f->name, f->help, f->type);
		if (!r)
			return;
		for (struct series *s = f->head; s; s = s->next) {
			if (f->type == MT_HISTOGRAM) {
				render_histogram(&r->body, f->name, s);
				continue;
			}
			sample_line(&r->body, f->name, "", s->labels, NULL);
			if (f->type == MT_COUNTER) {
				uint64_t v = atomic_load_explicit(&s->u.c.v, memory_order_relaxed);
				if (f->scale == 1)
					put_u64(&r->body, v);
				else
					fmt_double(&r->body, (double)v / (double)f->scale);
			} else {
				int64_t v = atomic_load_explicit(&s->u.g.v, memory_order_relaxed);
				if (s->u.g.scale <= 1)
					put_i64(&r->body, v);
				else
					fmt_double(&r->body, (double)v / (double)s->u.g.scale);
			}
			mqb_sbuf_putc(&r->body, '\n');
		}
	}
}

/* The type named by a collector, or -1 (logged). */
static int emit_type(const char *name, const char *type)
{
	if (strcmp(type, "counter") == 0)
		return MT_COUNTER;
	if (strcmp(type, "gauge") == 0)
		return MT_GAUGE;
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "%s: collector type \"%s\" "
			    "is not counter or gauge; dropped", name ? name : "?", type);
	return -1;
}

/* One sample with its labels already rendered (labels_render). */
static void emit_rendered(mqb_metrics_emit_t *e, const char *name, const char *help,
			  enum mtype t, double value, const char *labels)
{
	struct rfam *r = rfam_get(e, name, help, t);   /* validates a new family's name */

	if (!r)
		return;
	if (r->type != t) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "%s: collector emitted a %s "
				    "into a %s family; dropped", name, type_names[t],
				    type_names[r->type]);
		return;
	}
	sample_line(&r->body, name, "", labels, NULL);
	fmt_double(&r->body, value);
	mqb_sbuf_putc(&r->body, '\n');
}

void mqb_metrics_emit(mqb_metrics_emit_t *e, const char *name, const char *help,
		      const char *type, double value, ...)
{
	mqb_sbuf_t lb = MQB_SBUF_INIT;
	va_list ap;
	int t;

	if (!e || !type || (t = emit_type(name, type)) < 0)
		return;
	if (!name) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "collector: NULL metric name");
		return;
	}
	va_start(ap, value);
	bool ok = labels_render(&lb, name, ap, false);
	va_end(ap);
	if (ok && !lb.oom)
		emit_rendered(e, name, help, (enum mtype)t, value, lb.p ? lb.p : "");
	mqb_sbuf_free(&lb);
}

bool mqb_metrics_labels(mqb_metrics_labels_t *l, ...)
{
	mqb_sbuf_t lb = MQB_SBUF_INIT;
	va_list ap;

	va_start(ap, l);
	l->ok = labels_render(&lb, "collector", ap, false) && !lb.oom &&
		lb.len < sizeof l->s;
	va_end(ap);
	if (l->ok)
		memcpy(l->s, lb.p ? lb.p : "", lb.len + 1);
	else
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "collector: label set invalid or "
				    "over %zu bytes; its samples are dropped", sizeof l->s - 1);
	mqb_sbuf_free(&lb);
	return l->ok;
}

void mqb_metrics_emit_labels(mqb_metrics_emit_t *e, const char *name, const char *help,
			     const char *type, double value, const mqb_metrics_labels_t *l)
{
	int t;

	if (!e || !type || !name || !l || !l->ok || (t = emit_type(name, type)) < 0)
		return;
	emit_rendered(e, name, help, (enum mtype)t, value, l->s);
}

char *mqb_metrics_render_prometheus(mqb_metrics_t *reg, size_t *len)
{
	mqb_metrics_emit_t e = { 0 };
	struct collector *coll = NULL;
	size_t ncoll = 0;
	mqb_sbuf_t out = MQB_SBUF_INIT;
	char *res = NULL;

	if (!reg)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	render_owned(reg, &e);
	if (reg->ncoll) {
		coll = malloc(reg->ncoll * sizeof(*coll));
		if (coll) {
			memcpy(coll, reg->coll, reg->ncoll * sizeof(*coll));
			ncoll = reg->ncoll;
		} else {
			e.oom = true;
		}
	}
	pthread_mutex_unlock(&reg->lock);

	for (size_t i = 0; i < ncoll; i++)
		coll[i].fn(&e, coll[i].arg);

	for (size_t i = 0; i < e.n; i++) {
		struct rfam *r = &e.v[i];
		if (!r->body.len)
			continue;           /* a family with no samples says nothing */
		mqb_sbuf_printf(&out, "# HELP %s ", r->name);
		esc_help(&out, r->help);
		mqb_sbuf_printf(&out, "\n# TYPE %s %s\n", r->name, type_names[r->type]);
		mqb_sbuf_append(&out, r->body.p, r->body.len);
		if (r->body.oom)
			e.oom = true;
	}
	if (e.oom || out.oom) {
		mqb_error(MOD, "out of memory rendering metrics");
		goto out;
	}
	res = mqb_sbuf_take(&out, len);
out:
	for (size_t i = 0; i < e.n; i++) {
		free(e.v[i].name);
		free(e.v[i].help);
		mqb_sbuf_free(&e.v[i].body);
	}
	free(e.v);
	free(coll);
	mqb_sbuf_free(&out);
	return res;
}

/* --- JSON rendering ------------------------------------------------------------------ */

static _Thread_local enum mqb_json_detail json_detail = MQB_JSON_DETAIL_AUTO;

bool mqb_metrics_json_detail(size_t n)
{
	return json_detail == MQB_JSON_DETAIL_ON ||
	       (json_detail == MQB_JSON_DETAIL_AUTO && n <= MQB_JSON_DETAIL_MAX);
}

char *mqb_metrics_render_prometheus_detail(mqb_metrics_t *reg, size_t *len,
					   enum mqb_json_detail detail)
{
	char *res;

	json_detail = detail;
	res = mqb_metrics_render_prometheus(reg, len);
	json_detail = MQB_JSON_DETAIL_AUTO;
	return res;
}

char *mqb_metrics_render_json_detail(mqb_metrics_t *reg, size_t *len,
				     enum mqb_json_detail detail)
{
	char *res;

	json_detail = detail;
	res = mqb_metrics_render_json(reg, len);
	json_detail = MQB_JSON_DETAIL_AUTO;
	return res;
}

char *mqb_metrics_render_json(mqb_metrics_t *reg, size_t *len)
{
	cJSON *root = NULL;
	struct section *sect = NULL;
	size_t nsect = 0;
	char *res = NULL;

	if (!reg)
		return NULL;
	root = cJSON_CreateObject();
	if (!root)
		goto out;
	pthread_mutex_lock(&reg->lock);
	if (reg->nsect) {
		sect = malloc(reg->nsect * sizeof(*sect));
		if (sect) {
			nsect = reg->nsect;
			for (size_t i = 0; i < nsect; i++) {
				sect[i] = reg->sect[i];
				sect[i].name = strdup(reg->sect[i].name);
				if (!sect[i].name)
					sect[i].fn = NULL;
			}
		}
	}
	pthread_mutex_unlock(&reg->lock);
	if (reg->nsect && !sect)
		goto out;

	for (size_t i = 0; i < nsect; i++) {
		char key[128];
		size_t kl;
		bool array;
		cJSON *item;

		if (!sect[i].fn)
			goto out;
		snprintf(key, sizeof(key), "%s", sect[i].name);
		kl = strlen(key);
		array = kl > 2 && strcmp(key + kl - 2, "[]") == 0;
		if (array)
			key[kl - 2] = '\0';
		item = cJSON_GetObjectItemCaseSensitive(root, key);
		if (item && (array ? !cJSON_IsArray(item) : !cJSON_IsObject(item))) {
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "JSON section %s is "
					    "registered both as object and as array", key);
			continue;
		}
		if (!item) {
			item = array ? cJSON_CreateArray() : cJSON_CreateObject();
			if (!item || !cJSON_AddItemToObject(root, key, item)) {
				cJSON_Delete(item);
				goto out;
			}
		}
		sect[i].fn(item, sect[i].arg);
	}
	res = cJSON_Print(root);
	if (res && len)
		*len = strlen(res);
out:
	if (!res)
		mqb_error(MOD, "out of memory rendering JSON stats");
	for (size_t i = 0; i < nsect; i++)
		free(sect[i].name);
	free(sect);
	cJSON_Delete(root);
	return res;
}
