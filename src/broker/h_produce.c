/* h_produce.c - STUB: to be replaced. */
#include "broker/handlers.h"
int kb_h_produce(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_init_producer_id(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
