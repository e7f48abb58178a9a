/*
 * group_int.h - private state of the group coordinator, shared by group.c
 * (state machine, offsets, journal, timers) and h_group.c (wire handlers).
 *
 * Invariant: group state never points at a request.  A parked JoinGroup/
 * SyncGroup is known to its member only by a ticket number; the finished
 * response body is posted to the member under that ticket and the parked
 * request collects it on its re-run.  A request that disappears (connection
 * closed) just never collects, so nothing can dangle.
 */
#ifndef KB_GROUP_INT_H
#define KB_GROUP_INT_H

#include "broker/group.h"

#include <stdint.h>

#define KB_GROUP_MAX_GROUPS 100000
#define KB_GROUP_MAX_MEMBERS 1000   /* members + pending per group */
#define KB_GROUP_MAX_PROTOCOLS 64   /* protocols per JoinGroup */
#define KB_GROUP_MAX_METADATA 4096  /* offset.metadata.max.bytes */
#define KB_GROUP_EMPTY_GC_MS 600000 /* drop offset-less Empty groups after */
#define KB_GROUP_RETENTION_CHECK_MS 60000
#define KB_GROUP_COMPACT_MIN (64 << 20) /* never compact a smaller journal */
#define KB_ERR_OFFSET_METADATA_TOO_LARGE 12

typedef enum kb_gstate {
    KB_GS_EMPTY,
    KB_GS_PREPARING,  /* PreparingRebalance: collecting JoinGroups */
    KB_GS_COMPLETING, /* CompletingRebalance: waiting for the leader's SyncGroup */
    KB_GS_STABLE,
    KB_GS_DEAD
} kb_gstate;

enum { KB_WAIT_NONE, KB_WAIT_JOIN, KB_WAIT_SYNC };

typedef struct kb_gproto {
    char *name;
    uint8_t *meta;
    int32_t meta_len;
} kb_gproto;

typedef struct kb_member {
    char *id;
    char *instance_id; /* group.instance.id, NULL when dynamic */
    char *client_id;
    char *client_host; /* "/ip" as Kafka shows it */
    int32_t session_ms;
    int32_t rebalance_ms;
    kb_gproto *protos;
    int nprotos;
    uint8_t *assignment;
    int32_t assign_len;
    int64_t deadline;     /* session expiry, monotonic ms */
    int awaiting_join;    /* has joined the rebalance in progress */
    int wait_kind;        /* KB_WAIT_*: what its parked request waits for */
    uint64_t wait_ticket; /* 0 = no parked request */
    int16_t wait_version; /* API version of the parked request */
    uint64_t res_ticket;  /* a finished response body for this ticket */
    kf_buf res;
} kb_member;

typedef struct kb_pending {
    char *id; /* member id handed out with MEMBER_ID_REQUIRED */
    int64_t deadline;
} kb_pending;

typedef struct kb_opart {
    int present;
    int64_t offset;
    int32_t epoch;
    int64_t ts; /* commit time, wall ms */
    char *meta; /* never NULL when present ("" for null) */
} kb_opart;

typedef struct kb_otopic {
    char *name;
    kb_opart *parts; /* indexed by partition */
    int32_t cap;
    int32_t count; /* present entries */
} kb_otopic;

typedef struct kb_group {
    char *id;
    kb_gstate state;
    int32_t generation;
    char *protocol_type; /* set by the first member; kept when Empty */
    char *protocol;      /* selected protocol, NULL when none */
    char *leader;        /* member id, NULL when no members */
    kb_member **members; /* join order */
    int nmembers, capmembers;
    kb_pending *pending;
    int npending, cappending;
    /* PreparingRebalance timers */
    int initial_phase;    /* first rebalance of an Empty group: fixed delay */
    int new_member_added; /* someone joined during the initial delay */
    int64_t join_deadline;
    int64_t rebalance_end;
    int64_t empty_since;      /* monotonic, for garbage collection */
    int64_t empty_since_wall; /* for offset retention */
    kb_otopic *topics;
    int ntopics, captopics;
    struct kb_group *hnext;
} kb_group;

struct kb_groups {
    kb_broker *b;
    char path[4200]; /* the journal */
    int fd;
    int64_t jsize;
    int64_t compact_at; /* journal size that triggers a compaction in tick */
    int loading;        /* replaying: the group cap must not drop offsets */
    kb_group **buckets;
    size_t nbuckets;
    size_t ngroups;
    uint64_t next_ticket;
    int64_t next_check; /* earliest deadline tick must look at */
    int64_t next_retention;
};

/* One offset to store (OffsetCommit). */
typedef struct kb_ocommit {
    const char *topic;
    int32_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t epoch;
    const char *meta; /* NULL = null */
    int32_t meta_len;
    int16_t err; /* non-zero: skipped */
} kb_ocommit;

/* --- group.c ----------------------------------------------------------- */
kb_group *kb_group_find(kb_groups *gs, const char *id, size_t len);
/* NULL when the group cap is reached or out of memory. */
kb_group *kb_group_create(kb_groups *gs, const char *id, size_t len);
/* Removes a group (DeleteGroups) and journals a tombstone. 0 or -1. */
int kb_group_delete(kb_groups *gs, kb_group *g);
const char *kb_gstate_name(kb_gstate s);

kb_member *kb_group_member(kb_group *g, const char *id, size_t len);
int kb_group_pending_find(kb_group *g, const char *id, size_t len);
int kb_group_pending_add(kb_groups *gs, kb_group *g, const char *id, int64_t deadline);
void kb_group_pending_remove(kb_group *g, int idx);
/* Generates "<client_id>-<uuid>". */
char *kb_group_new_member_id(const char *client_id, int32_t client_id_len);

uint64_t kb_groups_ticket(kb_groups *gs);
/* Lowers the next deadline tick() must look at. */
void kb_groups_note_deadline(kb_groups *gs, int64_t when);

/* Would a member with these protocols be accepted? (Kafka's
 * supportsProtocols; self, a rejoining member, is not asked about its own
 * old protocols, so a lone member may switch assignors.) */
int kb_group_supports(const kb_group *g, const kb_member *self, const char *ptype, size_t ptype_len,
                      const kb_gproto *protos, int nprotos);
/* Adds a member that just joined (takes ownership of m), then starts or
 * continues the rebalance. */
void kb_group_add_member(kb_groups *gs, kb_group *g, kb_member *m, const char *ptype,
                         size_t ptype_len, int64_t now);
/* Removes a member (leave, expiry) and moves the group along. */
void kb_group_remove_member(kb_groups *gs, kb_group *g, kb_member *m, int64_t now);
void kb_group_prepare_rebalance(kb_groups *gs, kb_group *g, int64_t now);
void kb_group_try_complete(kb_groups *gs, kb_group *g, int64_t now);
/* The leader's SyncGroup: stores assignments, goes Stable, answers all
 * parked SyncGroups. asg is the raw assignments array of the request. */
void kb_group_complete_sync(kb_groups *gs, kb_group *g, kf_rd *asg, int32_t n, int flex);
void kb_member_free(kb_member *m);
void kb_member_set_protos(kb_member *m, kb_gproto *protos, int nprotos);
/* Posts a response body for ticket (takes buf's memory). */
void kb_member_post(kb_groups *gs, kb_member *m, uint64_t ticket, kf_buf *body);

/* Response bodies built by h_group.c, also used when a rebalance ends. */
void kb_write_join_resp(kf_buf *out, int16_t ver, int16_t err, const kb_group *g,
                        const char *member_id, int with_members);
void kb_write_sync_resp(kf_buf *out, int16_t ver, int16_t err, const uint8_t *asg, int32_t len);

/* Offsets. */
kb_opart *kb_group_offset(kb_group *g, const char *topic, size_t len, int32_t partition);
/* Journals then applies the entries with err == 0. 0, or -1 when the
 * journal write failed (nothing applied). */
int kb_group_commit(kb_groups *gs, kb_group *g, const kb_ocommit *c, size_t n);
/* Deletes one committed offset (journaled). 0 or -1. */
int kb_group_offset_delete(kb_groups *gs, kb_group *g, const char *topic, size_t len,
                           int32_t partition);
int kb_group_has_offsets(const kb_group *g);

#endif
