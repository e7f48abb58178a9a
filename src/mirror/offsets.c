/*
 * offsets.c - offset translation and map dumps (see offsets.h).
 *
 * The answer reflects the map as last persisted (every
 * kferry.map.persist.interval.ms while mirroring, and at shutdown); records
 * mirrored after that are reported as not mirrored yet.
 */
#include "mirror/offsets.h"

#include "common/log.h"
#include "mirror/clients.h"
#include "mirror/mapstore.h"
#include "mirror/offmap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(mirror_config *c, offmap *m) {
    rd_kafka_t *rk = clients_consumer(c, &c->tgt, "offsets", 1);
    if (!rk)
        return -1;
    if (clients_probe_both(c, NULL, rk, NULL, 0)) { /* the map is on the target */
        rd_kafka_destroy(rk);
        return -1;
    }
    char err[512];
    int found = 0;
    int rc = mapstore_load(rk, c->map_topic, m, &found, NULL, 0, err, sizeof(err));
    if (rc)
        kf_err("offsets", "cannot load the offset map from %s: %s", c->map_topic, err);
    else if (!found)
        kf_warn("offsets", "offset-map topic %s does not exist on %s: nothing mirrored yet",
                c->map_topic, c->tgt.alias);
    rd_kafka_destroy(rk);
    return rc;
}

int offsets_translate(mirror_config *c, const char *topic, int32_t partition, int64_t offset,
                      int json) {
    offmap m;
    offmap_init(&m);
    if (load(c, &m)) {
        offmap_free(&m);
        return 1;
    }
    char tgt_topic[256];
    mc_target_topic(c, topic, tgt_topic, sizeof(tgt_topic));
    om_part *p = offmap_get(&m, topic, tgt_topic, partition, 0);
    int64_t tgt = -1, next = -1;
    int st = om_lookup(p, offset, &tgt, &next);
    const char *status = "exact";
    char why[512] = "";
    if (st == OM_NOT_YET && offset < om_src_next(p)) {
        st = OM_GAP; /* a gap (or skip) after the last run */
        next = om_src_next(p);
        tgt = om_tgt_end(p);
    } else if (st == OM_NOT_YET && offset == om_src_next(p)) {
        status = "end";
        tgt = om_tgt_end(p);
        next = offset;
        snprintf(why, sizeof(why), "the next source record will be written at this offset");
    }
    const om_skip *sk = om_find_skip(p, offset);
    switch (sk ? -1 : st) {
    case -1:
        /* loop prevention: the opposite flow copied this record from the
         * target, so its original is the answer */
        status = "skipped";
        if (st == OM_EXACT)
            snprintf(why, sizeof(why),
                     "source offset %lld was written by the opposite flow %s->%s (a copy of "
                     "target offset %lld): not mirrored back",
                     (long long)offset, c->tgt.alias, c->src.alias, (long long)tgt);
        else if (tgt >= 0)
            snprintf(why, sizeof(why),
                     "source offset %lld was written by the opposite flow %s->%s from another "
                     "topic; next record with a target offset is source offset %lld",
                     (long long)offset, c->tgt.alias, c->src.alias, (long long)next);
        else
            snprintf(why, sizeof(why),
                     "source offset %lld was written by the opposite flow %s->%s from another "
                     "topic; no later record is mapped yet",
                     (long long)offset, c->tgt.alias, c->src.alias);
        break;
    case OM_EXACT: break;
    case OM_HOLE:
        status = "hole";
        snprintf(why, sizeof(why),
                 "source offset %lld holds no record (deleted, compacted or a transaction "
                 "marker); next mirrored record is source offset %lld",
                 (long long)offset, (long long)next);
        break;
    case OM_GAP:
        status = "gap";
        snprintf(why, sizeof(why),
                 "source offset %lld was deleted by source retention before it was mirrored "
                 "(recorded gap); next mirrored record is source offset %lld",
                 (long long)offset, (long long)next);
        break;
    case OM_BELOW:
        status = "below";
        snprintf(why, sizeof(why),
                 "source offset %lld is below the first mirrored record (source offset %lld; "
                 "the source log started there)",
                 (long long)offset, (long long)next);
        break;
    case OM_NOT_YET:
        if (!strcmp(status, "end"))
            break;
        status = "not-mirrored";
        snprintf(why, sizeof(why), "not mirrored yet: the map covers source offsets below %lld",
                 (long long)(p ? om_src_next(p) : 0));
        tgt = -1;
        break;
    default:
        status = "unknown";
        snprintf(why, sizeof(why), "nothing mirrored yet for %s/%d", topic, (int)partition);
        tgt = -1;
        break;
    }
    if (json) {
        json_t *o =
            json_pack("{s:s,s:s,s:i,s:I,s:s,s:I,s:I,s:s}", "status", status, "source_topic", topic,
                      "partition", (int)partition, "source_offset", (json_int_t)offset,
                      "target_topic", tgt_topic, "target_offset", (json_int_t)tgt,
                      "next_source_offset", (json_int_t)next, "message", why);
        char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
    } else if (tgt >= 0) {
        printf("%s/%d@%lld -> %s/%d@%lld%s%s%s\n", topic, (int)partition, (long long)offset,
               tgt_topic, (int)partition, (long long)tgt, why[0] ? " (" : "", why,
               why[0] ? ")" : "");
    } else {
        printf("%s/%d@%lld: %s\n", topic, (int)partition, (long long)offset, why);
    }
    offmap_free(&m);
    return tgt >= 0 ? 0 : 1;
}

int offsets_dump(mirror_config *c, const char *topic) {
    offmap m;
    offmap_init(&m);
    if (load(c, &m)) {
        offmap_free(&m);
        return 1;
    }
    for (size_t i = 0; i < m.n; i++) {
        om_part *p = m.parts[i];
        if (topic && strcmp(topic, p->src_topic) != 0)
            continue;
        json_t *runs = json_array(), *gaps = json_array(), *skips = json_array();
        for (size_t r = 0; r < p->nruns; r++)
            json_array_append_new(runs, json_pack("[I,I,I]", (json_int_t)p->runs[r].src,
                                                  (json_int_t)p->runs[r].tgt,
                                                  (json_int_t)p->runs[r].len));
        for (size_t g = 0; g < p->ngaps; g++)
            json_array_append_new(
                gaps, json_pack("[I,I]", (json_int_t)p->gaps[g].start, (json_int_t)p->gaps[g].end));
        for (size_t k = 0; k < p->nskips; k++)
            json_array_append_new(skips, json_pack("[I,I,I]", (json_int_t)p->skips[k].start,
                                                   (json_int_t)p->skips[k].end,
                                                   (json_int_t)p->skips[k].origin));
        json_t *o = json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:I,s:I}", "source_topic", p->src_topic,
                              "target_topic", p->tgt_topic, "partition", (int)p->partition, "runs",
                              runs, "gaps", gaps, "skips", skips, "baseline",
                              (json_int_t)p->baseline, "source_end", (json_int_t)om_src_next(p));
        char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
    }
    offmap_free(&m);
    return 0;
}
