/*
 * h_txn.c - the transaction coordinator's requests: AddPartitionsToTxn
 * (v0-3), AddOffsetsToTxn (v0-3), EndTxn (v0-3), TxnOffsetCommit (v0-3),
 * DescribeTransactions (v0) and ListTransactions (v0-1).  The state
 * machine lives in txn.c; this file parses and answers.
 *
 * Versions: clients use AddPartitionsToTxn up to v3 (v4+ is broker to
 * broker); EndTxn v5 and the epoch bump per transaction (KIP-890 part 2)
 * need the transaction.version feature, which this broker does not
 * advertise, so Kafka 4.0 clients stay on the classic protocol.
 *
 * With an authorizer (acl.h), as on Kafka: every request of a producer
 * needs WRITE on its transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
 * AddPartitionsToTxn WRITE on each topic, AddOffsetsToTxn and
 * TxnOffsetCommit READ on the group (and TxnOffsetCommit READ on each
 * topic); DescribeTransactions and ListTransactions need DESCRIBE on the
 * transactional id.
 */
#include "broker/acl.h"
#include "broker/group_int.h"
#include "broker/handlers.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

static int txn_ok(kb_broker *b, const kb_req *r, const char *id, int32_t len, int8_t op) {
    return kb_authz(b, r, KB_RES_TRANSACTIONAL_ID, id, len > 0 ? (size_t)len : 0, op);
}

static int16_t fenced(int16_t v, int16_t fenced_from) {
    return v >= fenced_from ? KF_ERR_PRODUCER_FENCED : KF_ERR_INVALID_PRODUCER_EPOCH;
}

int kb_h_add_partitions_to_txn(kb_broker *b, kb_req *r, kf_buf *out) {
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *id;
    int32_t idlen = kf_rd_str(&rd, flex, &id);
    int64_t pid = kf_rd_i64(&rd);
    int16_t epoch = kf_rd_i16(&rd);
    int32_t nt = kf_rd_arr(&rd, flex, flex ? 2 : 2 + 4);
    kf_rd topics = rd;
    /* First pass: validate the shape and look every partition up. */
    int unknown = 0;
    for (int32_t i = 0; i < nt && kf_rd_ok(&rd); i++) {
        const char *name;
        int32_t nl = kf_rd_str(&rd, flex, &name);
        int32_t np = kf_rd_arr(&rd, flex, 4);
        if (nl >= 0 && !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nl, KB_OP_WRITE))
            unknown = 1; /* answered TOPIC_AUTHORIZATION_FAILED below */
        for (int32_t k = 0; k < np && kf_rd_ok(&rd); k++) {
            int32_t part = kf_rd_i32(&rd);
            if (nl < 0 || !kb_store_part(b->store, name, (size_t)nl, part))
                unknown = 1;
        }
        if (nl < 0 || np < 0)
            return KB_CLOSE;
        kf_rd_tags(&rd, flex);
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || idlen < 0 || nt < 0)
        return KB_CLOSE;
    int16_t err = 0;
    kb_txn *t = NULL;
    if (!txn_ok(b, r, id, idlen, KB_OP_WRITE))
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else
        t = kb_txn_check(b, id, (size_t)idlen, pid, epoch, fenced(r->api_version, 2), &err);
    if (t && !unknown) {
        kf_rd p2 = topics;
        for (int32_t i = 0; i < nt && !err; i++) {
            const char *name;
            int32_t nl = kf_rd_str(&p2, flex, &name);
            int32_t np = kf_rd_arr(&p2, flex, 4);
            for (int32_t k = 0; k < np && !err; k++)
                if (kb_txn_add_partition(b, t, name, (size_t)nl, kf_rd_i32(&p2)) != 0)
                    err = KF_ERR_COORDINATOR_NOT_AVAILABLE;
            kf_rd_tags(&p2, flex);
        }
        if (!err)
            err = (int16_t)kb_txn_persist(b, t);
    }
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, flex, nt);
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t nl = kf_rd_str(&topics, flex, &name);
        int32_t np = kf_rd_arr(&topics, flex, 4);
        kf_wr_str(out, flex, name, nl);
        kf_wr_arr(out, flex, np);
        int tdenied = unknown && !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nl, KB_OP_WRITE);
        for (int32_t k = 0; k < np; k++) {
            int32_t part = kf_rd_i32(&topics);
            int16_t e = err;
            if (!e && tdenied)
                e = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!e && unknown)
                e = kb_store_part(b->store, name, (size_t)nl, part)
                        ? KF_ERR_OPERATION_NOT_ATTEMPTED
                        : KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            kf_wr_i32(out, part);
            kf_wr_i16(out, e);
            kf_wr_tags(out, flex);
        }
        kf_rd_tags(&topics, flex);
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    return KB_OK;
}

int kb_h_add_offsets_to_txn(kb_broker *b, kb_req *r, kf_buf *out) {
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *id, *group;
    int32_t idlen = kf_rd_str(&rd, flex, &id);
    int64_t pid = kf_rd_i64(&rd);
    int16_t epoch = kf_rd_i16(&rd);
    int32_t glen = kf_rd_str(&rd, flex, &group);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || idlen < 0 || glen < 0)
        return KB_CLOSE;
    int16_t err = 0;
    kb_txn *t = NULL;
    if (!txn_ok(b, r, id, idlen, KB_OP_WRITE))
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else if (!kb_authz(b, r, KB_RES_GROUP, group, (size_t)glen, KB_OP_READ))
        err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    else
        t = kb_txn_check(b, id, (size_t)idlen, pid, epoch, fenced(r->api_version, 2), &err);
    if (t) {
        if (glen == 0)
            err = KF_ERR_INVALID_GROUP_ID;
        else if (kb_txn_add_group(b, t, group, (size_t)glen) != 0)
            err = KF_ERR_COORDINATOR_NOT_AVAILABLE;
        else
            err = (int16_t)kb_txn_persist(b, t);
    }
    kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    kf_wr_tags(out, flex);
    return KB_OK;
}

int kb_h_end_txn(kb_broker *b, kb_req *r, kf_buf *out) {
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *id;
    int32_t idlen = kf_rd_str(&rd, flex, &id);
    int64_t pid = kf_rd_i64(&rd);
    int16_t epoch = kf_rd_i16(&rd);
    int8_t committed = kf_rd_i8(&rd);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || idlen < 0)
        return KB_CLOSE;
    int16_t err = 0;
    kb_txn *t = NULL;
    if (!txn_ok(b, r, id, idlen, KB_OP_WRITE))
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else
        t = kb_txn_check(b, id, (size_t)idlen, pid, epoch, fenced(r->api_version, 2), &err);
    if (t)
        err = (int16_t)kb_txn_end(b, t, committed != 0);
    kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    kf_wr_tags(out, flex);
    return KB_OK;
}

int kb_h_txn_offset_commit(kb_broker *b, kb_req *r, kf_buf *out) {
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *id, *group, *member = "", *inst;
    int32_t idlen = kf_rd_str(&rd, flex, &id);
    int32_t glen = kf_rd_str(&rd, flex, &group);
    int64_t pid = kf_rd_i64(&rd);
    int16_t epoch = kf_rd_i16(&rd);
    int32_t gen = -1, mlen = 0;
    if (v >= 3) {
        gen = kf_rd_i32(&rd);
        mlen = kf_rd_str(&rd, flex, &member);
        (void)kf_rd_str(&rd, flex, &inst);
    }
    int32_t nt = kf_rd_arr(&rd, flex, flex ? 2 : 2 + 4);
    kf_rd topics = rd;
    size_t pmin = 4 + 8 + (v >= 2 ? 4 : 0) + (flex ? 1 : 2);
    for (int32_t i = 0; i < nt && kf_rd_ok(&rd); i++) {
        const char *name, *meta;
        int32_t nl = kf_rd_str(&rd, flex, &name);
        int32_t np = kf_rd_arr(&rd, flex, pmin);
        if (nl < 0 || np < 0)
            return KB_CLOSE;
        for (int32_t k = 0; k < np && kf_rd_ok(&rd); k++) {
            (void)kf_rd_i32(&rd);
            (void)kf_rd_i64(&rd);
            if (v >= 2)
                (void)kf_rd_i32(&rd);
            (void)kf_rd_str(&rd, flex, &meta);
            kf_rd_tags(&rd, flex);
        }
        kf_rd_tags(&rd, flex);
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || idlen < 0 || glen < 0 || nt < 0 || mlen < 0)
        return KB_CLOSE;

    int16_t err = 0;
    kb_txn *t = NULL;
    if (!txn_ok(b, r, id, idlen, KB_OP_WRITE))
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else if (!kb_authz(b, r, KB_RES_GROUP, group, (size_t)glen, KB_OP_READ))
        err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    else
        t = kb_txn_check(b, id, (size_t)idlen, pid, epoch, KF_ERR_INVALID_PRODUCER_EPOCH, &err);
    if (t && (t->state != KB_TXN_ONGOING || !kb_txn_has_group(t, group, (size_t)glen)))
        err = KF_ERR_INVALID_TXN_STATE; /* AddOffsetsToTxn comes first */
    if (!err && b->groups && (gen >= 0 || mlen > 0)) {
        /* KIP-447: a zombie member of an older generation is fenced. */
        kb_group *g = kb_group_find(b->groups, group, (size_t)glen);
        if (g && mlen > 0 && !kb_group_member(g, member, (size_t)mlen))
            err = KF_ERR_UNKNOWN_MEMBER_ID;
        else if (g && gen >= 0 && g->generation != gen)
            err = KF_ERR_ILLEGAL_GENERATION;
    }
    kf_wr_i32(out, 0);
    kf_wr_arr(out, flex, nt);
    int changed = 0;
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t nl = kf_rd_str(&topics, flex, &name);
        int32_t np = kf_rd_arr(&topics, flex, pmin);
        kf_wr_str(out, flex, name, nl);
        kf_wr_arr(out, flex, np);
        int tdenied = !err && !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nl, KB_OP_READ);
        for (int32_t k = 0; k < np; k++) {
            int32_t part = kf_rd_i32(&topics);
            int64_t off = kf_rd_i64(&topics);
            int32_t lep = v >= 2 ? kf_rd_i32(&topics) : -1;
            const char *meta;
            int32_t ml = kf_rd_str(&topics, flex, &meta);
            kf_rd_tags(&topics, flex);
            int16_t e = err;
            if (!e && tdenied)
                e = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            if (!e && !kb_store_part(b->store, name, (size_t)nl, part))
                e = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            if (!e && kb_txn_add_offset(t, group, (size_t)glen, name, (size_t)nl, part, off, lep,
                                        meta, ml) != 0)
                e = KF_ERR_COORDINATOR_NOT_AVAILABLE;
            if (!e)
                changed = 1;
            kf_wr_i32(out, part);
            kf_wr_i16(out, e);
            kf_wr_tags(out, flex);
        }
        kf_rd_tags(&topics, flex);
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    if (changed && kb_txn_persist(b, t) != 0)
        kf_err("txn", "%s: pending offsets could not be journaled", t->id);
    return KB_OK;
}

static void write_state(kf_buf *out, kb_txn *t) { kf_wr_cstr(out, 1, kb_txn_state_name(t->state)); }

int kb_h_describe_transactions(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, 1, 1);
    kf_rd ids = rd;
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        const char *s;
        if (kf_rd_str(&rd, 1, &s) < 0)
            return KB_CLOSE;
    }
    kf_rd_tags(&rd, 1);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    kf_wr_i32(out, 0);
    kf_wr_arr(out, 1, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int32_t len = kf_rd_str(&ids, 1, &s);
        int denied = !txn_ok(b, r, s, len, KB_OP_DESCRIBE);
        kb_txn *t = denied ? NULL : kb_txn_find(b, s, (size_t)len);
        kf_wr_i16(out, denied ? KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                       : t    ? KF_ERR_NONE
                              : KF_ERR_TRANSACTIONAL_ID_NOT_FOUND);
        kf_wr_str(out, 1, s, len);
        if (t)
            write_state(out, t);
        else
            kf_wr_cstr(out, 1, "");
        kf_wr_i32(out, t ? t->timeout_ms : 0);
        kf_wr_i64(out, t ? t->start_ms : -1);
        kf_wr_i64(out, t ? t->pid : -1);
        kf_wr_i16(out, t ? t->epoch : -1);
        /* Partitions grouped by topic, in the order they were added. */
        size_t ntp = t ? t->ntp : 0;
        int32_t ntopics = 0;
        for (size_t k = 0; k < ntp; k++) {
            size_t j = 0;
            while (j < k && strcmp(t->tps[j].topic, t->tps[k].topic) != 0)
                j++;
            ntopics += j == k;
        }
        kf_wr_arr(out, 1, ntopics);
        for (size_t k = 0; k < ntp; k++) {
            size_t j = 0;
            while (j < k && strcmp(t->tps[j].topic, t->tps[k].topic) != 0)
                j++;
            if (j < k)
                continue;
            kf_wr_cstr(out, 1, t->tps[k].topic);
            int32_t np = 0;
            for (size_t m = k; m < ntp; m++)
                np += strcmp(t->tps[m].topic, t->tps[k].topic) == 0;
            kf_wr_arr(out, 1, np);
            for (size_t m = k; m < ntp; m++)
                if (strcmp(t->tps[m].topic, t->tps[k].topic) == 0)
                    kf_wr_i32(out, t->tps[m].part);
            kf_wr_tags(out, 1);
        }
        kf_wr_tags(out, 1);
    }
    kf_wr_tags(out, 1);
    return KB_OK;
}

int kb_h_list_transactions(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t ns = kf_rd_arr(&rd, 1, 1);
    kf_rd states = rd;
    for (int32_t i = 0; i < ns && kf_rd_ok(&rd); i++) {
        const char *s;
        if (kf_rd_str(&rd, 1, &s) < 0)
            return KB_CLOSE;
    }
    int32_t np = kf_rd_arr(&rd, 1, 8);
    kf_rd pids = rd;
    kf_rd_skip(&rd, np > 0 ? (size_t)np * 8 : 0);
    int64_t min_duration = r->api_version >= 1 ? kf_rd_i64(&rd) : -1;
    kf_rd_tags(&rd, 1);
    if (!kf_rd_ok(&rd) || ns < 0 || np < 0)
        return KB_CLOSE;
    int64_t now = kf_wall_ms();
    kf_wr_i32(out, 0);
    kf_wr_i16(out, KF_ERR_NONE);
    /* unknown_state_filters: the filters that name no state Kafka knows */
    static const char *const known[] = {"Empty",        "Ongoing",          "PrepareCommit",
                                        "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                        "Dead",         "PrepareEpochFence"};
    int32_t nunknown = 0;
    for (int pass = 0; pass < 2; pass++) {
        kf_rd s2 = states;
        if (pass == 1)
            kf_wr_arr(out, 1, nunknown);
        for (int32_t k = 0; k < ns; k++) {
            const char *s;
            int32_t l = kf_rd_str(&s2, 1, &s);
            int is_known = 0;
            for (size_t q = 0; q < sizeof(known) / sizeof(known[0]); q++)
                is_known |= (size_t)l == strlen(known[q]) && memcmp(s, known[q], (size_t)l) == 0;
            if (is_known)
                continue;
            if (pass == 0)
                nunknown++;
            else
                kf_wr_str(out, 1, s, l);
        }
    }
    size_t count_pos = out->len;
    kf_wr_uvarint(out, 0); /* patched below when it fits one byte, else rewritten */
    size_t body = out->len;
    int32_t n = 0;
    size_t total = kb_txn_count(b);
    for (size_t i = 0; i < total; i++) {
        kb_txn *t = kb_txn_at(b, i);
        const char *st = kb_txn_state_name(t->state);
        if (ns > 0) {
            kf_rd s2 = states;
            int match = 0;
            for (int32_t k = 0; k < ns; k++) {
                const char *s;
                int32_t l = kf_rd_str(&s2, 1, &s);
                match |= (size_t)l == strlen(st) && memcmp(s, st, (size_t)l) == 0;
            }
            if (!match)
                continue;
        }
        if (np > 0) {
            kf_rd p2 = pids;
            int match = 0;
            for (int32_t k = 0; k < np; k++)
                match |= kf_rd_i64(&p2) == t->pid;
            if (!match)
                continue;
        }
        if (min_duration >= 0 && (t->start_ms < 0 || now - t->start_ms <= min_duration))
            continue;
        if (!txn_ok(b, r, t->id, (int32_t)strlen(t->id), KB_OP_DESCRIBE))
            continue;
        kf_wr_cstr(out, 1, t->id);
        kf_wr_i64(out, t->pid);
        write_state(out, t);
        kf_wr_tags(out, 1);
        n++;
    }
    if (!kf_buf_ok(out))
        return KB_OK; /* the dispatcher reports the failure */
    /* The compact array length is a varint: rewrite it in place, moving
     * the entries when it needs more than the one byte reserved. */
    kf_buf len;
    kf_buf_init(&len, 0);
    kf_wr_arr(&len, 1, n);
    if (!kf_buf_ok(&len)) {
        kf_buf_free(&len);
        out->failed = 1;
        return KB_OK;
    }
    size_t extra = len.len - (body - count_pos);
    if (extra > 0 && kf_buf_extend(out, extra)) {
        memmove(out->data + body + extra, out->data + body, out->len - extra - body);
    }
    if (kf_buf_ok(out))
        memcpy(out->data + count_pos, len.data, len.len);
    kf_buf_free(&len);
    kf_wr_tags(out, 1);
    return KB_OK;
}
