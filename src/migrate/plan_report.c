/*
 * plan_report.c - the human report of `kferry plan`, rendered from the
 * JSON document (see plan.h) so it cannot disagree with --json.
 *
 * Tables are collected as rows of strings first and then printed with
 * column widths fitted to the content; the last column is never padded.
 */
#include "migrate/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A table: a JSON array of rows, each an array of strings. */
__attribute__((format(printf, 2, 3))) static void cell(json_t *row, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(row, json_string(buf));
}

static json_t *row(json_t *table) {
    json_t *r = json_array();
    json_array_append_new(table, r);
    return r;
}

static void print_table(FILE *out, json_t *table, const char *indent) {
    size_t w[16] = {0}, i, k;
    json_t *r, *c;
    json_array_foreach(table, i, r) {
        json_array_foreach(r, k, c) {
            size_t l = strlen(json_string_value(c));
            if (k < 16 && l > w[k])
                w[k] = l;
        }
    }
    json_array_foreach(table, i, r) {
        fputs(indent, out);
        size_t n = json_array_size(r);
        json_array_foreach(r, k, c) {
            if (k + 1 < n && k < 16)
                fprintf(out, "%-*s  ", (int)w[k], json_string_value(c));
            else
                fprintf(out, "%s", json_string_value(c));
        }
        fputc('\n', out);
    }
    json_decref(table);
}

static const char *str(const json_t *o, const char *k, const char *dflt) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

/* An integer field as text, "-" when null or absent. */
static const char *num(const json_t *o, const char *k, char *buf, size_t len) {
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return "-";
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* "1.2 GB" for an integer field, "-" when null or absent */
static const char *bytes(const json_t *o, const char *k, char *buf, size_t len) {
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return "-";
    double b = (double)json_integer_value(v);
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (b >= 1000 && u < 5) {
        b /= 1000;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

/* a duration field in seconds: "2 h 5 min", "never", "-" when null */
static const char *secs(const json_t *o, const char *k, char *buf, size_t len) {
    const json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_integer(v))
        return "-";
    plan_duration((double)json_integer_value(v), buf, len);
    return buf;
}

/* The migration estimate (plan_estimate.c). */
static void estimate(FILE *out, const json_t *doc) {
    const json_t *e = json_object_get(doc, "estimate");
    if (!e)
        return;
    const json_t *tot = json_object_get(e, "total");
    char b1[64], b2[64], b3[64];
    fprintf(out, "\nESTIMATE (rate %s/s, %s: %s)\n", bytes(e, "rate_bytes_per_s", b1, sizeof(b1)),
            str(e, "rate_source", ""), str(e, "rate_note", ""));
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"SOURCE TOPIC", "RECORDS",   "BYTES (~)", "IN/S (~)",
                         "OLDEST",       "RETENTION", "ALONE (~)", "RETENTION RISK"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(e, "topics"), i, x) {
        char n1[32], c1[64], c2[64], c3[64], c4[64], c5[64], ret[96];
        r = row(t);
        cell(r, "%s", str(x, "topic", ""));
        cell(r, "%s", num(x, "records", n1, sizeof(n1)));
        cell(r, "%s", bytes(x, "bytes_approx", c1, sizeof(c1)));
        cell(r, "%s", bytes(x, "incoming_bytes_per_s", c2, sizeof(c2)));
        cell(r, "%s", secs(x, "oldest_unmirrored_age_s", c3, sizeof(c3)));
        if (json_is_integer(json_object_get(x, "retention_s")))
            snprintf(ret, sizeof(ret), "%s (%s)", secs(x, "retention_s", c4, sizeof(c4)),
                     str(x, "retention_by", ""));
        else
            snprintf(ret, sizeof(ret), "none");
        cell(r, "%s", ret);
        cell(r, "%s", secs(x, "catch_up_alone_s", c5, sizeof(c5)));
        const char *risk = str(x, "retention_risk", "");
        cell(r, "%s",
             !strcmp(risk, "at_risk") ? "AT RISK: records deleted before they are mirrored"
             : !strcmp(risk, "tight") ? "tight: over half of the retention"
                                      : risk);
    }
    print_table(out, t, "  ");
    char d[64];
    const char *T = secs(tot, "catch_up_s", d, sizeof(d));
    fprintf(out, "  total: %s record(s), about %s to copy, producers add %s/s; catch-up: %s%s\n",
            num(tot, "records", b1, sizeof(b1)), bytes(tot, "bytes_approx", b2, sizeof(b2)),
            bytes(tot, "incoming_bytes_per_s", b3, sizeof(b3)),
            strcmp(T, "-") && strcmp(T, "never") ? "about " : "", strcmp(T, "-") ? T : "unknown");
}

static void clusters(FILE *out, const json_t *doc) {
    fprintf(out, "CLUSTERS\n");
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"ROLE",    "ALIAS",       "BOOTSTRAP",         "STATUS",
                         "BROKERS", "IDS",         "MESSAGE.MAX.BYTES", "TOPICS",
                         "GROUPS",  "API VERSIONS"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    const char *roles[] = {"source", "target"};
    for (int k = 0; k < 2; k++) {
        const json_t *c = json_object_get(json_object_get(doc, "clusters"), roles[k]);
        if (!c)
            continue;
        char b[32], ids[256] = "";
        size_t i, used = 0;
        json_t *br;
        json_array_foreach(json_object_get(c, "brokers"), i, br) {
            if (used < sizeof(ids))
                used += (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%lld", i ? "," : "",
                                         (long long)json_integer_value(json_object_get(br, "id")));
        }
        int up = json_is_true(json_object_get(c, "reachable"));
        const json_t *av = json_object_get(c, "api_versions");
        r = row(t);
        cell(r, "%s", roles[k]);
        cell(r, "%s", str(c, "alias", ""));
        cell(r, "%s", str(c, "bootstrap", ""));
        cell(r, "%s", up ? "connected" : "UNREACHABLE");
        cell(r, "%s", num(c, "broker_count", b, sizeof(b)));
        cell(r, "%s", ids[0] ? ids : "-");
        cell(r, "%s", num(c, "message_max_bytes", b, sizeof(b)));
        cell(r, "%zu", json_array_size(json_object_get(c, "topics")));
        cell(r, "%zu", json_array_size(json_object_get(c, "groups")));
        cell(r, "%s",
             !up                                            ? "-"
             : json_is_true(json_object_get(av, "checked")) ? "probed"
                                                            : str(av, "error", "not probed"));
    }
    print_table(out, t, "  ");
}

/* Per cluster: how kferry connected, or what to fix. */
static void connections(FILE *out, const json_t *doc) {
    fprintf(out, "\nCONNECTIONS\n");
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"ROLE", "ALIAS", "PROTOCOL", "SASL", "RESULT", "MESSAGE"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    const char *roles[] = {"source", "target"};
    for (int k = 0; k < 2; k++) {
        const json_t *c = json_object_get(json_object_get(doc, "clusters"), roles[k]);
        const json_t *cn = json_object_get(c, "connection");
        if (!cn)
            continue;
        r = row(t);
        cell(r, "%s", roles[k]);
        cell(r, "%s", str(c, "alias", ""));
        cell(r, "%s", str(cn, "protocol", ""));
        cell(r, "%s", str(cn, "mechanism", "-"));
        cell(r, "%s", str(cn, "result", ""));
        cell(r, "%s", str(cn, "message", ""));
    }
    print_table(out, t, "  ");
}

/* Per broker of each cluster: what its advertised address does from here. */
static void brokers(FILE *out, const json_t *doc) {
    fprintf(out, "\nBROKERS (advertised addresses, checked from here)\n");
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"ROLE",    "ALIAS", "ID",   "ADVERTISED", "RESOLVES TO",
                         "CONNECT", "TLS",   "SASL", "RESULT"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    const char *roles[] = {"source", "target"};
    for (int k = 0; k < 2; k++) {
        const json_t *c = json_object_get(json_object_get(doc, "clusters"), roles[k]);
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(c, "broker_reachability"), i, b) {
            char addrs[256] = "", conn[64] = "-";
            size_t used = 0, n;
            json_t *a;
            const json_t *dns = json_object_get(b, "dns"), *cn = json_object_get(b, "connect");
            json_array_foreach(json_object_get(dns, "addresses"), n, a) {
                if (used < sizeof(addrs))
                    used += (size_t)snprintf(addrs + used, sizeof(addrs) - used, "%s%s",
                                             n ? "," : "", json_string_value(a));
            }
            if (json_is_true(json_object_get(cn, "ok")))
                snprintf(conn, sizeof(conn), "%.1f ms", json_real_value(json_object_get(cn, "ms")));
            else if (json_is_object(cn))
                snprintf(conn, sizeof(conn), "failed");
            const json_t *tls = json_object_get(b, "tls"),
                         *au = json_object_get(b, "authentication");
            const json_t *tok = json_object_get(tls, "ok"), *aok = json_object_get(au, "ok");
            const char *fs = str(b, "failed_step", NULL);
            r = row(t);
            cell(r, "%s", roles[k]);
            cell(r, "%s", str(c, "alias", ""));
            cell(r, "%lld", (long long)json_integer_value(json_object_get(b, "id")));
            cell(r, "%s:%lld", str(b, "host", ""),
                 (long long)json_integer_value(json_object_get(b, "port")));
            cell(r, "%s", addrs[0] ? addrs : "-");
            cell(r, "%s", conn);
            cell(r, "%s",
                 !json_is_object(tls) ? "-"
                 : json_is_true(tok)  ? "ok"
                 : json_is_false(tok) ? "failed"
                                      : "not reached");
            cell(r, "%s",
                 !json_is_object(au)  ? "-"
                 : json_is_true(aok)  ? "ok"
                 : json_is_false(aok) ? "failed"
                                      : "not reached");
            if (fs)
                cell(r, "BLOCKER %s: %s", fs, str(b, "reason", ""));
            else
                cell(r, "ok");
        }
    }
    if (json_array_size(t) == 1)
        cell(row(t), "(no broker list: cluster unreachable)");
    print_table(out, t, "  ");
}

static void topics(FILE *out, const json_t *doc) {
    const json_t *flow = json_object_get(doc, "flow");
    fprintf(out, "\nTOPICS (%s -> %s, %s replication policy)\n", str(flow, "source", ""),
            str(flow, "target", ""), str(flow, "replication_policy", ""));
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"SOURCE TOPIC",  "PARTS",       "RF",
                         "MAX.MSG.BYTES", "ACTION",      "TARGET TOPIC",
                         "TGT PARTS",     "TGT MAX.MSG", "CONFIGS COPIED / NOTE"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "topics"), i, e) {
        char b1[32], b2[32], b3[32], b4[32], b5[32], note[512] = "";
        if (!json_is_true(json_object_get(e, "selected"))) {
            snprintf(note, sizeof(note), "%s", str(e, "excluded_reason", ""));
        } else {
            size_t used = 0;
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(e, "configs_copied"), k, v) {
                if (used < sizeof(note))
                    used += (size_t)snprintf(note + used, sizeof(note) - used, "%s%s=%s",
                                             used ? " " : "", k, json_string_value(v));
            }
            if (json_is_string(json_object_get(e, "create_error")) && used < sizeof(note))
                snprintf(note + used, sizeof(note) - used, "%sREJECTED: %s", used ? "; " : "",
                         str(e, "create_error", ""));
        }
        r = row(t);
        cell(r, "%s", str(e, "source", ""));
        cell(r, "%s", num(e, "partitions", b1, sizeof(b1)));
        cell(r, "%s", num(e, "replication_factor", b2, sizeof(b2)));
        cell(r, "%s", num(e, "max_message_bytes", b3, sizeof(b3)));
        cell(r, "%s", str(e, "action", ""));
        cell(r, "%s", str(e, "target", "-"));
        cell(r, "%s", num(e, "target_partitions", b4, sizeof(b4)));
        cell(r, "%s", num(e, "target_max_message_bytes", b5, sizeof(b5)));
        cell(r, "%s", note[0] ? note : "-");
    }
    if (json_array_size(t) == 1)
        cell(row(t), "(none)");
    print_table(out, t, "  ");
}

/* The target's own topics, so the ones the mirror did not make are seen. */
static void target_topics(FILE *out, const json_t *doc) {
    const json_t *c = json_object_get(json_object_get(doc, "clusters"), "target");
    fprintf(out, "\nTARGET TOPICS (%s)\n", str(c, "alias", ""));
    json_t *t = json_array(), *r = row(t);
    cell(r, "TOPIC");
    cell(r, "PARTS");
    cell(r, "RF");
    cell(r, "MAX.MSG.BYTES");
    cell(r, "CONFIGS SET");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "topics"), i, e) {
        char b1[32], b2[32], b3[32], cfg[512] = "";
        size_t used = 0;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(e, "configs"), k, v) {
            if (used < sizeof(cfg))
                used += (size_t)snprintf(cfg + used, sizeof(cfg) - used, "%s%s=%s", used ? " " : "",
                                         k, json_string_value(v));
        }
        r = row(t);
        cell(r, "%s", str(e, "name", ""));
        cell(r, "%s", num(e, "partitions", b1, sizeof(b1)));
        cell(r, "%s", num(e, "replication_factor", b2, sizeof(b2)));
        cell(r, "%s", num(e, "max_message_bytes", b3, sizeof(b3)));
        cell(r, "%s", cfg[0] ? cfg : "-");
    }
    if (json_array_size(t) == 1)
        cell(row(t), json_is_true(json_object_get(c, "reachable")) ? "(none)" : "(unreachable)");
    print_table(out, t, "  ");
}

static void groups(FILE *out, const json_t *doc) {
    fprintf(out, "\nCONSUMER GROUPS (source %s)\n",
            str(json_object_get(doc, "flow"), "source", ""));
    json_t *t = json_array(), *r = row(t);
    const char *hdr[] = {"GROUP",
                         "SELECTED",
                         "STATE",
                         "MEMBERS",
                         "LAG",
                         "ON TARGET",
                         "TOPIC/PARTITION: COMMITTED END LAG"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
        cell(r, "%s", hdr[i]);
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g) {
        char b1[32], b2[32], offs[1024] = "";
        size_t k, used = 0;
        json_t *o;
        json_array_foreach(json_object_get(g, "offsets"), k, o) {
            char e[32], l[32];
            if (used < sizeof(offs))
                used += (size_t)snprintf(
                    offs + used, sizeof(offs) - used, "%s%s/%lld: %lld %s %s", k ? ", " : "",
                    str(o, "topic", ""),
                    (long long)json_integer_value(json_object_get(o, "partition")),
                    (long long)json_integer_value(json_object_get(o, "committed")),
                    num(o, "end_offset", e, sizeof(e)), num(o, "lag", l, sizeof(l)));
        }
        const json_t *tg = json_object_get(g, "target");
        char on_tgt[64] = "unknown";
        if (json_is_object(tg) && !json_is_true(json_object_get(tg, "exists")))
            snprintf(on_tgt, sizeof(on_tgt), "absent");
        else if (json_is_object(tg))
            snprintf(on_tgt, sizeof(on_tgt), "%s, %lld member(s)", str(tg, "state", "?"),
                     (long long)json_integer_value(json_object_get(tg, "member_count")));
        r = row(t);
        cell(r, "%s", str(g, "group", ""));
        cell(r, "%s",
             json_is_true(json_object_get(g, "selected")) ? "yes"
                                                          : str(g, "excluded_reason", "no"));
        cell(r, "%s", str(g, "state", "?"));
        cell(r, "%s", num(g, "member_count", b1, sizeof(b1)));
        cell(r, "%s", num(g, "lag", b2, sizeof(b2)));
        cell(r, "%s", on_tgt);
        cell(r, "%s", offs[0] ? offs : str(g, "error", "-"));
    }
    if (json_array_size(t) == 1)
        cell(row(t), "(none)");
    print_table(out, t, "  ");
}

static void acls(FILE *out, const json_t *doc) {
    fprintf(out, "\nACLS\n");
    const char *roles[] = {"source", "target"};
    for (int k = 0; k < 2; k++) {
        const json_t *c = json_object_get(json_object_get(doc, "clusters"), roles[k]);
        const json_t *a = json_object_get(c, "acls");
        if (!a)
            fprintf(out, "  %s %s: not inventoried (cluster unreachable)\n", roles[k],
                    str(c, "alias", ""));
        else if (!json_is_true(json_object_get(a, "readable")))
            fprintf(out, "  %s %s: ACLs: not readable (%s)\n", roles[k], str(c, "alias", ""),
                    str(a, "error", "unknown reason"));
        else
            fprintf(out, "  %s %s: %zu ACL binding(s)\n", roles[k], str(c, "alias", ""),
                    json_array_size(json_object_get(a, "bindings")));
    }
}

static void preflight(FILE *out, const json_t *doc) {
    fprintf(out, "\nPREFLIGHT\n");
    json_t *t = json_array(), *r = row(t);
    cell(r, "STATUS");
    cell(r, "CHECK");
    cell(r, "OBJECT");
    cell(r, "MESSAGE");
    /* blockers first, then warnings, then ok: the eye lands on what matters */
    const char *order[] = {"blocker", "warning", "ok"};
    for (int pass = 0; pass < 3; pass++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "checks"), i, c) {
            if (strcmp(str(c, "status", ""), order[pass]))
                continue;
            r = row(t);
            cell(r, "%s", pass == 0 ? "BLOCKER" : pass == 1 ? "warning" : "ok");
            cell(r, "%s", str(c, "check", ""));
            cell(r, "%s %s", str(c, "object_type", ""), str(c, "object", ""));
            cell(r, "%s", str(c, "message", ""));
        }
    }
    print_table(out, t, "  ");
    const json_t *s = json_object_get(doc, "summary");
    long long nb = (long long)json_integer_value(json_object_get(s, "blockers"));
    fprintf(out, "\nsummary: %lld ok, %lld warning(s), %lld blocker(s): %s\n",
            (long long)json_integer_value(json_object_get(s, "ok")),
            (long long)json_integer_value(json_object_get(s, "warnings")), nb,
            nb ? "NOT READY to mirror (exit 1)" : "ready to mirror");
}

void plan_report(const json_t *doc, FILE *out) {
    const json_t *flow = json_object_get(doc, "flow");
    fprintf(out, "kferry plan: %s -> %s, replication.factor %lld, topic configs %s\n\n",
            str(flow, "source", ""), str(flow, "target", ""),
            (long long)json_integer_value(json_object_get(flow, "replication_factor")),
            json_is_true(json_object_get(flow, "sync_topic_configs")) ? "copied" : "not copied");
    clusters(out, doc);
    connections(out, doc);
    brokers(out, doc);
    topics(out, doc);
    estimate(out, doc);
    target_topics(out, doc);
    groups(out, doc);
    acls(out, doc);
    preflight(out, doc);
}
