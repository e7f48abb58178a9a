/*
 * config.h - broker configuration helpers beyond broker.h's kb_config.
 */
#ifndef KB_CONFIG_H
#define KB_CONFIG_H

#include "broker/broker.h"

#include <stdio.h>

/* Known Kafka broker keys that are accepted but have no effect here. */
int kb_config_is_ignored(const char *key);
/* Markdown table of every key, its default, range and meaning. */
void kb_config_print_reference(FILE *f);

#endif
