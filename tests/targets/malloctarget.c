/*
 * malloctarget — a glibc process with a known malloc state, for the malloc-zones analyzer.
 *
 * Built dynamically (glibc's libc.so.6). The main thread and three other threads (each of
 * which glibc gives its own arena) each make a different mix of allocations:
 *   small  (8..127 bytes: chunks for tcache and the fast bins),
 *   medium (200..999 bytes: tcache, then the small bins),
 *   large  (1100..31099 bytes: beyond tcache, into the unsorted and large bins),
 * free a share of each, and allocate a little more (which sorts the unsorted bin).
 * The main thread also keeps two chunks malloc maps on its own (256 KiB + 100 and 1 MiB),
 * thread 1 keeps one (300 KiB), and the main thread frees one (600 KiB: unmapped again).
 * The threads stay alive (blocked), so their tcaches keep the chunks they cached.
 *
 * Prints:
 *   "malloctarget PID"
 *   "live K COUNT PTR"   thread K (0 = main) holds COUNT live heap allocations; PTR is one
 *   "mmapped PTR SIZE"   a live mmapped allocation: user pointer and requested size
 *   "unmapped PTR"       the mmapped allocation that was freed
 *   malloc_info (0, stdout)
 *   "ready"
 * then waits.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXP 2048

struct job {
    int id;
    int live;
    void *sample;
    void *mapped;
};

static sem_t done;

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    memset(p, 0x5a, n);
    return p;
}

static void work(struct job *j) {
    void *p[MAXP];
    int n = 0, k = j->id, freed = 0;
    int small = 300 + 40 * k, medium = 60 + 13 * k, large = 24 + 5 * k;
    for (int i = 0; i < small; i++)
        p[n++] = xmalloc(8 + (i * 24 + k * 8) % 120);
    for (int i = 0; i < medium; i++)
        p[n++] = xmalloc(200 + (i * 53 + k) % 800);
    for (int i = 0; i < large; i++)
        p[n++] = xmalloc(1100 + (i * 977 + k * 131) % 30000);
    /* Keeps the frees below from merging into the top chunk. */
    p[n++] = xmalloc(64);
    for (int i = small; i < small + medium; i += 2, freed++)
        free(p[i]), p[i] = NULL;
    for (int i = small + medium; i < small + medium + large; i += 2, freed++)
        free(p[i]), p[i] = NULL;
    /* Sorts the unsorted bin into the small and large bins (and would consolidate the fast
       bins: so the small chunks are freed after it, into tcache and then the fast bins). */
    p[n++] = xmalloc(40000 + 1000 * k);
    for (int i = 0; i < small; i += 3, freed++)
        free(p[i]), p[i] = NULL;
    p[n++] = xmalloc(24);
    j->live = n - freed;
    j->sample = p[n - 1];
}

static void *run(void *arg) {
    struct job *j = arg;
    /* Before the work: a large request consolidates the fast bins. */
    if (j->id == 1)
        j->mapped = xmalloc(300 * 1024);
    work(j);
    sem_post(&done);
    for (;;)
        pause();
    return NULL;
}

int main(void) {
    static struct job jobs[4];
    pthread_t t;
    /* The first output allocates stdout's buffer (a large request, which would consolidate
       the main arena's fast bins): have it done now. */
    printf("malloctarget %d\n", (int)getpid());
    sem_init(&done, 0, 0);
    for (int k = 1; k <= 3; k++) {
        jobs[k].id = k;
        if (pthread_create(&t, NULL, run, &jobs[k]) != 0) {
            perror("pthread_create");
            return 2;
        }
        sem_wait(&done);
    }
    /* Before the main thread's work: a large request consolidates the fast bins. */
    void *m1 = xmalloc(256 * 1024 + 100);
    void *m2 = xmalloc(1024 * 1024);
    void *gone = xmalloc(600 * 1024);
    unsigned long gone_at = (unsigned long)gone;
    free(gone);
    jobs[0].id = 0;
    work(&jobs[0]);
    for (int k = 0; k <= 3; k++)
        printf("live %d %d %lx\n", k, jobs[k].live, (unsigned long)jobs[k].sample);
    printf("mmapped %lx %lx\n", (unsigned long)m1, 256UL * 1024 + 100);
    printf("mmapped %lx %lx\n", (unsigned long)m2, 1024UL * 1024);
    printf("mmapped %lx %lx\n", (unsigned long)jobs[1].mapped, 300UL * 1024);
    printf("unmapped %lx\n", gone_at);
    fflush(stdout);
    malloc_info(0, stdout);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
