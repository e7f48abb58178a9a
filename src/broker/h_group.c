/* h_group.c - STUB: to be replaced. */
#include "broker/handlers.h"
int kb_h_find_coordinator(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_join_group(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_sync_group(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_heartbeat(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_leave_group(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_offset_commit(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_offset_fetch(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_list_groups(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_describe_groups(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_delete_groups(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_offset_delete(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
