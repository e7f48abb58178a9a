/*
 * fuzz_principal_map.c - libFuzzer harness for ssl.principal.mapping.rules
 * (src/broker/principal_map.c).
 *
 * Input: the rules text, a NUL byte, then the distinguished name (up to the
 * next NUL).  Without a NUL the whole input is the rules and a fixed DN is
 * mapped.  Each part is cut at 2 KiB: real rules and DNs are far shorter,
 * and PCRE2's per-call match limit times the replaceAll loop's one search
 * per character would otherwise let a few inputs run for seconds.
 *
 * Oracles: a refused rule list has a message; a result fits its buffer,
 * a failure leaves the buffer empty; mapping again gives the same result,
 * a buffer of exactly the result's length plus one still fits and one byte
 * less is refused (never truncated).
 */
#include "broker/principal_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PART_MAX 2048
#define OUT_MAX 8192

static char *part(const uint8_t *p, size_t n) {
    if (n > PART_MAX)
        n = PART_MAX;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0'; /* an inner NUL just ends the string earlier */
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t rl = nul ? (size_t)(nul - data) : size;
    char *rules = part(data, rl);
    char *dn = nul ? part(nul + 1, size - rl - 1) : part((const uint8_t *)"CN=a,OU=b,O=c", 13);

    char err[512];
    kb_pmap *m = kb_pmap_parse(rules, err, sizeof(err));
    if (!m) {
        if (!err[0] || strlen(err) >= sizeof(err))
            abort(); /* a refusal must say why */
        goto out;
    }
    static char a[OUT_MAX], b[OUT_MAX];
    int rc = kb_pmap_apply(m, dn, a, sizeof(a));
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && a[0])
        abort(); /* a failure leaves nothing behind */
    if (kb_pmap_count(m) == 0 && rc == 0)
        abort(); /* no rules: nothing can map */
    if (rc == 0) {
        size_t len = strlen(a);
        if (len >= sizeof(a))
            abort();
        if (kb_pmap_apply(m, dn, b, len + 1) != 0 || strcmp(a, b) != 0)
            abort(); /* same result again, in a buffer just big enough */
        if (kb_pmap_apply(m, dn, b, len) != -1 || (len > 0 && b[0]))
            abort(); /* one byte short: refused, not truncated */
    }
    kb_pmap_free(m);
out:
    free(rules);
    free(dn);
    return 0;
}
