/*
 * pidstate.c - idempotent-producer state (see pidstate.h) and the producer
 * id allocator.  Each partition owns an open-addressing hash table keyed by
 * producer id; entries hold a ring of the last KB_PID_BATCHES batches.
 * Tables are bounded: idle producers are forgotten (as Kafka expires them
 * after producer.id.expiration.ms), which only means their next batch is
 * accepted with whatever sequence it carries.
 */
#include "broker/pidstate.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PID_EMPTY INT64_MIN
/* Producers idle this long may be dropped when a table is full (Kafka's
 * producer.id.expiration.ms default, one day). */
#define PID_EXPIRE_MS (24LL * 3600 * 1000)
/* Past this many producers in one partition the table is pruned rather
 * than grown: bounds memory against clients that churn producer ids. */
#define PID_MAX_PER_PART 32768
/* Producer state is rebuilt from at most this many trailing offsets of each
 * partition: enough for any producer whose retries can still be in flight
 * across a restart, and cheap at startup. */
#define PID_REBUILD_OFFSETS 100000
/* Producer ids are reserved (persisted) this many at a time. */
#define PID_BLOCK 1000
#define PID_STATE_KEY "next.producer.id"

typedef struct pid_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
} pid_batch;

typedef struct pid_entry {
    int64_t pid; /* PID_EMPTY = free slot */
    int64_t last_ms;
    int16_t epoch;
    uint8_t n;    /* batches remembered */
    uint8_t head; /* index of the newest */
    pid_batch b[KB_PID_BATCHES];
} pid_entry;

typedef struct pid_table {
    size_t cap; /* power of two */
    size_t count;
    pid_entry *e;
} pid_table;

static void table_free(void *p) {
    pid_table *t = p;
    if (t) {
        free(t->e);
        free(t);
    }
}

static inline uint64_t mix(int64_t pid) {
    uint64_t z = (uint64_t)pid + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static pid_entry *lookup(const pid_table *t, int64_t pid) {
    if (!t || !t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = mix(pid) & mask;; i = (i + 1) & mask) {
        if (t->e[i].pid == pid)
            return &t->e[i];
        if (t->e[i].pid == PID_EMPTY)
            return NULL;
    }
}

static pid_entry *slot_for(pid_entry *e, size_t cap, int64_t pid) {
    size_t mask = cap - 1;
    size_t i = mix(pid) & mask;
    while (e[i].pid != PID_EMPTY && e[i].pid != pid)
        i = (i + 1) & mask;
    return &e[i];
}

/* Rehashes into ncap slots, keeping only entries used at or after
 * min_ms. Returns 0 or -1 (table unchanged). */
static int rehash(pid_table *t, size_t ncap, int64_t min_ms) {
    pid_entry *ne = malloc(ncap * sizeof(*ne));
    if (!ne)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        ne[i].pid = PID_EMPTY;
    size_t count = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->e[i].pid == PID_EMPTY || t->e[i].last_ms < min_ms)
            continue;
        *slot_for(ne, ncap, t->e[i].pid) = t->e[i];
        count++;
    }
    free(t->e);
    t->e = ne;
    t->cap = ncap;
    t->count = count;
    return 0;
}

/* Median-ish cutoff: the last-use time that keeps roughly the newest half. */
static int64_t newer_half_cutoff(const pid_table *t) {
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->e[i].pid == PID_EMPTY)
            continue;
        if (t->e[i].last_ms < lo)
            lo = t->e[i].last_ms;
        if (t->e[i].last_ms > hi)
            hi = t->e[i].last_ms;
    }
    /* Bisect on time: good enough, and O(n log range) only when full. */
    for (int iter = 0; iter < 40 && lo < hi; iter++) {
        int64_t mid = lo + (hi - lo) / 2;
        size_t newer = 0;
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i].pid != PID_EMPTY && t->e[i].last_ms > mid)
                newer++;
        if (newer > t->count / 2)
            lo = mid + 1;
        else
            hi = mid;
    }
    return hi == INT64_MAX ? hi : hi + 1; /* keep strictly newer than hi */
}

static pid_entry *insert(kb_part *p, int64_t pid, int64_t now) {
    pid_table *t = p->producers;
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t)
            return NULL;
        p->producers = t;
        p->producers_free = table_free;
    }
    if (!t->cap || (t->count + 1) * 2 > t->cap) {
        if (t->count + 1 > PID_MAX_PER_PART) {
            /* Full: drop expired producers, else the older half. */
            if (rehash(t, t->cap, now - PID_EXPIRE_MS) < 0)
                return NULL;
            if ((t->count + 1) * 2 > t->cap) {
                kf_warn("broker", "%s-%d: more than %d idempotent producers, forgetting the idlest",
                        p->topic ? p->topic->name : "?", (int)p->id, PID_MAX_PER_PART);
                if (rehash(t, t->cap, newer_half_cutoff(t)) < 0)
                    return NULL;
            }
        } else if (rehash(t, t->cap ? t->cap * 2 : 16, INT64_MIN) < 0) {
            return NULL;
        }
    }
    pid_entry *e = slot_for(t->e, t->cap, pid);
    if (e->pid == PID_EMPTY) {
        memset(e, 0, sizeof(*e));
        e->pid = pid;
        e->epoch = -1;
        t->count++;
    }
    return e;
}

int32_t kb_pidstate_last_seq(const kf_batch_hdr *h) {
    int64_t last = (int64_t)h->base_sequence + h->last_offset_delta;
    if (last > INT32_MAX)
        last -= (int64_t)INT32_MAX + 1;
    return (int32_t)last;
}

int kb_pidstate_check(kb_part *p, const kf_batch_hdr *h, int64_t *dup_base) {
    *dup_base = -1;
    if (h->producer_id < 0)
        return KF_ERR_NONE;
    if (h->base_sequence < 0)
        return KF_ERR_INVALID_RECORD; /* idempotent batches carry sequences */
    pid_entry *e = lookup(p->producers, h->producer_id);
    if (!e || e->n == 0)
        return KF_ERR_NONE; /* unknown producer (new, expired, or restart): trust it */
    if (h->producer_epoch < e->epoch)
        return KF_ERR_INVALID_PRODUCER_EPOCH;
    if (h->producer_epoch > e->epoch)
        return h->base_sequence == 0 ? KF_ERR_NONE : KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    int32_t last = kb_pidstate_last_seq(h);
    for (unsigned i = 0; i < e->n; i++) {
        const pid_batch *pb = &e->b[(e->head + KB_PID_BATCHES - i) % KB_PID_BATCHES];
        if (pb->first_seq == h->base_sequence && pb->last_seq == last) {
            *dup_base = pb->base_offset;
            return KF_ERR_NONE;
        }
    }
    int32_t newest = e->b[e->head].last_seq;
    int32_t expect = newest == INT32_MAX ? 0 : newest + 1;
    return h->base_sequence == expect ? KF_ERR_NONE : KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

static int record_at(kb_part *p, const kf_batch_hdr *h, int64_t base_offset, int64_t now) {
    pid_entry *e = insert(p, h->producer_id, now);
    if (!e)
        return -1;
    if (e->n == 0 || h->producer_epoch != e->epoch) {
        e->epoch = h->producer_epoch;
        e->n = 0;
        e->head = KB_PID_BATCHES - 1;
    }
    e->head = (uint8_t)((e->head + 1) % KB_PID_BATCHES);
    e->b[e->head] = (pid_batch){h->base_sequence, kb_pidstate_last_seq(h), base_offset};
    if (e->n < KB_PID_BATCHES)
        e->n++;
    e->last_ms = now;
    return 0;
}

int kb_pidstate_record(kb_part *p, const kf_batch_hdr *h, int64_t base_offset) {
    if (h->producer_id < 0)
        return 0;
    if (record_at(p, h, base_offset, kf_now_ms()) < 0) {
        kf_warn("broker", "out of memory tracking producer %" PRId64, h->producer_id);
        return -1;
    }
    return 0;
}

size_t kb_pidstate_count(const kb_part *p) {
    const pid_table *t = p->producers;
    return t ? t->count : 0;
}

typedef struct rebuild_ctx {
    int64_t now;
    size_t batches;
} rebuild_ctx;

static int rebuild_visit(kb_part *p, const kf_batch_hdr *h, void *opaque) {
    rebuild_ctx *c = opaque;
    if (h->producer_id < 0 || h->base_sequence < 0 || (h->attributes & KF_BATCH_ATTR_CONTROL))
        return 0;
    pid_entry *e = lookup(p->producers, h->producer_id);
    if (e && e->n && h->producer_epoch < e->epoch)
        return 0; /* a fenced epoch's leftovers */
    (void)record_at(p, h, h->base_offset, c->now);
    c->batches++;
    return 0;
}

static int64_t persisted_next_id(kb_broker *b) {
    const char *v = b->store ? kb_store_state_get(b->store, PID_STATE_KEY) : NULL;
    int64_t n = 0;
    if (v && kf_parse_i64(v, 0, INT64_MAX - PID_BLOCK, &n) != 0) {
        kf_warn("broker", "ignoring bad persisted %s '%s'", PID_STATE_KEY, v);
        n = 0;
    }
    return n;
}

void kb_pidstate_rebuild(kb_broker *b) {
    int64_t next = persisted_next_id(b);
    if (b->next_producer_id < next)
        b->next_producer_id = next;
    if (!b->store)
        return;
    rebuild_ctx c = {.now = kf_now_ms()};
    size_t producers = 0;
    size_t nt = kb_store_topic_count(b->store);
    for (size_t i = 0; i < nt; i++) {
        kb_topic *t = kb_store_topic_at(b->store, i);
        for (int32_t j = 0; t && j < t->nparts; j++) {
            kb_part *p = t->parts[j];
            if (!p)
                continue;
            if (p->producers && p->producers_free)
                p->producers_free(p->producers);
            p->producers = NULL;
            int64_t end = kb_part_log_end(p), start = kb_part_log_start(p);
            int64_t from = end - PID_REBUILD_OFFSETS;
            if (from < start)
                from = start;
            if (kb_part_scan(p, from, rebuild_visit, &c) != 0)
                kf_warn("broker", "%s-%d: could not scan the log for producer state", t->name,
                        (int)j);
            producers += kb_pidstate_count(p);
        }
    }
    if (producers)
        kf_info("broker", "rebuilt idempotent state of %zu producer(s) from %zu batch(es)",
                producers, c.batches);
}

int kb_producer_id_alloc(kb_broker *b, int64_t *id) {
    int64_t reserved = persisted_next_id(b);
    /* 0 means nothing was handed out in this run yet: never go below what
     * a previous run may have used. */
    if (b->next_producer_id < reserved && b->next_producer_id == 0)
        b->next_producer_id = reserved;
    if (b->next_producer_id >= reserved) {
        char v[32];
        snprintf(v, sizeof(v), "%" PRId64, b->next_producer_id + PID_BLOCK);
        if (!b->store || kb_store_state_set(b->store, PID_STATE_KEY, v) != 0) {
            kf_err("broker", "cannot persist %s; refusing to hand out producer ids", PID_STATE_KEY);
            return KF_ERR_KAFKA_STORAGE_ERROR;
        }
    }
    *id = b->next_producer_id++;
    return KF_ERR_NONE;
}
