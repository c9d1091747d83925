/*
 * meshctl: the offline companion of meshclusterd. It dispatches to subcommands and
 * nothing else; each subcommand lives in its own file in this folder.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/meshctl/commands.h"
#include "mc_version.h"

static const struct meshctl_cmd meshctl_cmds[] = {
    /* Subcommands register here, one line each. */
    {"render", "print the objects the controller would apply for one cluster", meshctl_cmd_render},
    {"pki", "create and verify the mesh's root and per-cluster intermediate CAs", meshctl_cmd_pki},
    {"status", "print the cluster-to-cluster health matrix of the whole mesh", meshctl_cmd_status},
    {"doctor", "run the guide's debug checklist against every cluster", meshctl_cmd_doctor},
    {NULL, NULL, NULL},
};

static void meshctl_usage(FILE *f)
{
    fprintf(f, "Usage: meshctl <command> [options]\n\n"
               "The meshcluster command-line tool: renders what the controller would apply and\n"
               "manages the mesh's certificates.\n\nCommands:\n");
    for (const struct meshctl_cmd *c = meshctl_cmds; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nOptions:\n  -h, --help     show this help\n"
               "  -v, --version  print the version\n\n"
               "Run 'meshctl <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        meshctl_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        meshctl_usage(stdout);
        return 0;
    }
    if (strcmp(name, "-v") == 0 || strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("meshctl %s\n", MC_VERSION);
        return 0;
    }
    for (const struct meshctl_cmd *c = meshctl_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1, stdout, stderr);
    fprintf(stderr, "meshctl: unknown command \"%s\" (see 'meshctl --help')\n", name);
    return 2;
}
