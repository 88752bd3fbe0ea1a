/*
 * threadtarget — a test process with known thread stacks, malloc arenas, reservations and
 * guard pages, for the guard-detection analyzer.
 *
 * usage: threadtarget [noguard]
 *
 * Built statically by the tests. Starts four threads:
 *   t_default1, t_default2  default attributes (glibc's default guard, one page)
 *   t_guard64k              pthread_attr_setguardsize(64 KiB)
 *   t_guard128k             pthread_attr_setguardsize(128 KiB)
 * and, with the argument "noguard", a fifth:
 *   t_noguard               pthread_attr_setguardsize(0): a stack with no guard
 * Each thread mallocs (so glibc gives it its own arena heap) and reports, from glibc itself
 * (pthread_getattr_np, pthread_attr_getstack, pthread_attr_getguardsize):
 *   "stack NAME LOW SIZE GUARD"   the usable stack [LOW, LOW+SIZE) and the guard size
 *   "arena NAME PTR"              an address malloc returned in that thread
 * The main thread also maps:
 *   "reservation START END"       256 MiB PROT_NONE
 *   "guardpage START END"         one PROT_NONE page between two writable pages
 * then prints "ready" and waits.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static sem_t reported;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static void *run(void *arg) {
    const char *name = arg;
    pthread_attr_t at;
    void *low;
    size_t size, guard;
    if (pthread_getattr_np(pthread_self(), &at) != 0 || pthread_attr_getstack(&at, &low, &size) != 0 ||
        pthread_attr_getguardsize(&at, &guard) != 0) {
        perror("pthread attributes");
        exit(2);
    }
    void *m = malloc(1000);
    memset(m, 1, 1000);
    pthread_mutex_lock(&out);
    printf("stack %s %lx %lx %lx\n", name, (unsigned long)low, (unsigned long)size, (unsigned long)guard);
    printf("arena %s %lx\n", name, (unsigned long)m);
    fflush(stdout);
    pthread_mutex_unlock(&out);
    sem_post(&reported);
    for (;;)
        pause();
    return NULL;
}

static void start(const char *name, long guard) {
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    if (guard >= 0)
        pthread_attr_setguardsize(&a, (size_t)guard);
    if (pthread_create(&t, &a, run, (void *)name) != 0) {
        perror("pthread_create");
        exit(2);
    }
    sem_wait(&reported);
}

int main(int argc, char **argv) {
    sem_init(&reported, 0, 0);
    start("t_default1", -1);
    start("t_default2", -1);
    start("t_guard64k", 64 * 1024);
    start("t_guard128k", 128 * 1024);
    if (argc > 1 && strcmp(argv[1], "noguard") == 0)
        start("t_noguard", 0);

    char *res = mmap(NULL, 256UL << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED) {
        perror("mmap reservation");
        return 2;
    }
    printf("reservation %lx %lx\n", (unsigned long)res, (unsigned long)(res + (256UL << 20)));

    char *g = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED || mprotect(g + PAGE, PAGE, PROT_NONE) != 0) {
        perror("guard page");
        return 2;
    }
    g[0] = 1;
    g[2 * PAGE] = 1;
    printf("guardpage %lx %lx\n", (unsigned long)(g + PAGE), (unsigned long)(g + 2 * PAGE));
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
