/*
 * principal_map.h - ssl.principal.mapping.rules: turns the distinguished
 * name of a TLS client certificate into a principal name, as Kafka's
 * SslPrincipalMapper does.
 *
 * The value is a comma-separated list of rules, tried in order:
 *
 *   DEFAULT                          the whole DN, unchanged
 *   RULE:pattern/replacement/[L|U]   when pattern matches the WHOLE DN
 *                                    (Java's matches()), the DN with every
 *                                    match of pattern replaced (Java's
 *                                    replaceAll), then lower- or
 *                                    upper-cased with L or U
 *
 * "\/" is a slash inside pattern or replacement.  Patterns are Java-style
 * regular expressions (compiled with PCRE2: lazy quantifiers, look-around,
 * named groups).  In the replacement "$0".."$9" (and more digits while
 * such a group exists) and "${name}" insert groups and "\x" is a literal x;
 * a "$N" beyond the pattern's groups is literal text, as on Kafka.  Upper-
 * and lower-casing change ASCII letters only.
 *
 * A parsed map is read-only: kb_pmap_apply may run on several threads at
 * once.
 */
#ifndef KB_PRINCIPAL_MAP_H
#define KB_PRINCIPAL_MAP_H

#include <stddef.h>

typedef struct kb_pmap kb_pmap;

/* Parses the value of ssl.principal.mapping.rules ("DEFAULT" when NULL or
 * empty).  Returns NULL and writes a message naming the bad rule into err
 * on a syntax error or a regex that does not compile (or on memory
 * exhaustion).  err may be NULL when errlen is 0. */
kb_pmap *kb_pmap_parse(const char *rules, char *err, size_t errlen);

/* Maps an RFC 2253 distinguished name (e.g. "CN=alice,OU=eng,O=kferry") to
 * a principal NAME (without "User:").  0 on success; -1 when no rule applies
 * (Kafka then fails the authentication), when the result does not fit in
 * outlen bytes (never truncated) or when a pattern exceeds the match limit.
 * On -1, out is the empty string (when outlen > 0). */
int kb_pmap_apply(const kb_pmap *m, const char *dn, char *out, size_t outlen);

/* The number of rules parsed (empty items are ignored, as on Kafka). */
size_t kb_pmap_count(const kb_pmap *m);

void kb_pmap_free(kb_pmap *m);

#endif
