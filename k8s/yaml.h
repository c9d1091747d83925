/*
 * YAML <-> cJSON the way Kubernetes tooling sees it.
 *
 * Parsing follows sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 resolution): plain scalars are
 * typed (null/~/empty -> null; true/false/yes/no/on/off/y/n in their three casings -> bool;
 * decimal, 0x, 0o, leading-0 octal, 0b and underscore-separated integers and YAML floats
 * -> number), quoted or `!!str`-tagged scalars stay strings. Map keys become strings
 * (a key `on` becomes "true", as kubectl would make it). Anchors and aliases are resolved
 * by copying, with a node budget so an alias bomb is refused; merge keys (`<<`) are
 * supported with explicit keys winning. Duplicate keys, complex keys, .inf/.nan (which JSON
 * cannot hold) and nesting deeper than K8S_YAML_MAX_DEPTH are refused. Every error message
 * names the line and column ("line 3, column 7: ..."), 1-based.
 *
 * Known difference: plain timestamps (2001-12-14) stay strings as written; go-yaml would
 * reformat them as RFC 3339. Numbers are doubles (cJSON), so integers beyond 2^53 round.
 *
 * Emission is block style that kubectl, helm and PyYAML read back to the same value:
 * strings that would retype as plain scalars ("true", "15443", "", "null", "1e3", anything
 * with ':' ...) are double-quoted, multi-line strings use literal blocks (`|`), long lines
 * are never folded.
 *
 * Pure functions: no globals, safe from any thread.
 */
#ifndef K8S_YAML_H
#define K8S_YAML_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define K8S_YAML_MAX_DEPTH 200

/*
 * Parses every document of buf[0..len) into a new cJSON array, one element per document.
 * Empty documents (nothing, or only comments, between `---` markers) are skipped, as
 * kubectl does. Returns NULL on error with a message in err (if errlen > 0). The caller
 * owns the result (cJSON_Delete).
 */
cJSON *k8s_yaml_parse_all(const char *buf, size_t len, char *err, size_t errlen);

/*
 * Parses exactly one document. Returns NULL (and says why in err) when the input holds no
 * document or more than one. The caller owns the result.
 */
cJSON *k8s_yaml_parse_one(const char *buf, size_t len, char *err, size_t errlen);

/*
 * Emits one document as block-style YAML ending in a newline, without a `---` marker.
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL on allocation failure
 * or a value YAML cannot carry (a non-finite number).
 */
char *k8s_yaml_emit(const cJSON *doc);

/*
 * Emits every element of the array docs as a multi-document stream, each document
 * introduced by `---`. Returns a malloc'd string the caller frees ("" for an empty array),
 * or NULL on failure.
 */
char *k8s_yaml_emit_all(const cJSON *docs);

/*
 * Reports whether s, written as a plain YAML scalar, would be read back as something other
 * than the same string (so an emitter must quote it). Exposed for tests.
 */
int k8s_yaml_string_needs_quotes(const char *s);

#endif
