/*
 * A qemu-user TCG plugin that counts the guest instructions every thread executes and prints
 * the running total whenever the guest calls getpgid() with a marker argument (MARKER + k):
 * "marker <k> <instructions>" on stderr. The guest brackets each piece of work with two
 * markers, so the difference is that work's instruction count, whatever ran before it.
 * Built by scripts/count_aarch64.sh against the qemu it builds (plugins need a dynamic qemu).
 */
#include <inttypes.h>
#include <stdio.h>
#include <glib.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define SYS_GETPGID_AARCH64 155
#define MARKER 2100000000ULL /* above any pid (pid_max is at most 2^22) */

static struct qemu_plugin_scoreboard *counts;
static qemu_plugin_u64 insns;

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
                                                      qemu_plugin_tb_n_insns(tb));
}

static void syscall_entry(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                          uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                          uint64_t a7, uint64_t a8)
{
    if (num == SYS_GETPGID_AARCH64 && a1 >= MARKER && a1 < MARKER + 1000000) {
        fprintf(stderr, "marker %" PRIu64 " %" PRIu64 "\n", a1 - MARKER, qemu_plugin_u64_sum(insns));
        fflush(stderr);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    counts = qemu_plugin_scoreboard_new(sizeof(uint64_t));
    insns = qemu_plugin_scoreboard_u64(counts);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, syscall_entry);
    return 0;
}
