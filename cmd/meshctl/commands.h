/*
 * meshctl subcommands. Each takes the arguments after its own name (argv[0] is the
 * subcommand name), writes results to out and diagnostics to err, and returns the
 * process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef MESHCTL_COMMANDS_H
#define MESHCTL_COMMANDS_H

#include <stdio.h>

typedef int (*meshctl_cmd_fn)(int argc, char **argv, FILE *out, FILE *err);

struct meshctl_cmd {
    const char *name;
    const char *summary;
    meshctl_cmd_fn run;
};

int meshctl_cmd_render(int argc, char **argv, FILE *out, FILE *err);
int meshctl_cmd_pki(int argc, char **argv, FILE *out, FILE *err);
int meshctl_cmd_status(int argc, char **argv, FILE *out, FILE *err);
int meshctl_cmd_doctor(int argc, char **argv, FILE *out, FILE *err);

/* render's Tailscale modes (--tailnet-policy, --tailscale-operator-values); render.c calls it. */
int meshctl_render_tailscale(int argc, char **argv, FILE *out, FILE *err);

#endif
