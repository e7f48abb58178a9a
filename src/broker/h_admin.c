/* h_admin.c - STUB: to be replaced. */
#include "broker/handlers.h"
int kb_h_create_topics(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_delete_topics(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_create_partitions(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_delete_records(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_describe_configs(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_alter_configs(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
