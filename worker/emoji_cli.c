/* `mastodon-worker emoji import|add|list|remove`: the local custom emojis
 * (tootctl emoji import and purge, the admin's upload).
 *
 * An image is taken by its bytes: PNG, GIF or WebP (CustomEmoji's
 * IMAGE_MIME_TYPES) of at most 256 KB (LOCAL_LIMIT), decoded once with
 * libvips to make the static style, the first frame as PNG.  Both styles go
 * through media_storage.h under custom_emojis/images/<id>/{original,static}
 * (Paperclip's layout, which the module's URLs share), the row
 * (custom_emojis with no domain) pointing at them.
 *
 * import FILE takes the shortcode from the file name (prefix + name without
 * its extension + suffix); an existing shortcode is kept unless
 * --overwrite, as tootctl does.  A .tar.gz archive is read as tootctl
 * emoji import reads it (worker/tar_gz.c, bounded): each .png, .gif or
 * .webp file in it an emoji named by its base name (macOS' "._" shadow
 * files skipped), a name with an absolute path or a ".." part refused;
 * then "Imported N, skipped N, failed to import N". */
#include "commands.h"
#include "db.h"
#include "media.h"
#include "media_storage.h"
#include "mstdn_media.h"
#include "tar_gz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#define EMOJI_LIMIT  262144            /* CustomEmoji::LOCAL_LIMIT, 256 KB */
#define ARCHIVE_MAX_BYTES    (512ULL << 20)  /* unpacked, headers included */
#define ARCHIVE_MAX_ENTRIES  20000

static const char usage_text[] =
    "usage: mastodon-worker emoji import FILE|ARCHIVE.tar.gz [--prefix P] [--suffix S]\n"
    "                                    [--category NAME] [--overwrite] [--unlisted]\n"
    "       mastodon-worker emoji add SHORTCODE FILE [--category NAME] [--overwrite] [--unlisted]\n"
    "       mastodon-worker emoji list\n"
    "       mastodon-worker emoji remove SHORTCODE\n";

/* CustomEmoji::SHORTCODE_RE_FRAGMENT: [a-zA-Z0-9_]{2,} */
static int valid_shortcode(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char) s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* the whole file, at most EMOJI_LIMIT bytes; NULL with err */
static unsigned char *read_image(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = malloc(EMOJI_LIMIT + 1);
    size_t n = buf ? fread(buf, 1, EMOJI_LIMIT + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read it", path);
    } else if (n > EMOJI_LIMIT) {
        snprintf(err, errlen, "%s: Image must be less than 256 KB", path);
        bad = 1;
    } else if (n == 0) {
        snprintf(err, errlen, "%s: empty file", path);
        bad = 1;
    }
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* what the bytes are, one of PNG, GIF, WebP; NULL otherwise */
static const char *image_type(const unsigned char *p, size_t n, const char **extension)
{
    mstdn_media_kind kind;

    if (mstdn_media_sniff(p, n, &kind) != 0)
        return NULL;
    if (strcmp(kind.mime, "image/png") != 0 && strcmp(kind.mime, "image/gif") != 0
        && strcmp(kind.mime, "image/webp") != 0)
        return NULL;
    *extension = kind.extension;
    return kind.mime;
}

/* The first frame as PNG at path (the static style): 0, or -1 when the
 * image does not decode. */
static int write_static(const unsigned char *p, size_t n, const char *type, const char *path)
{
    VipsImage *img = NULL;
    void *buf = (void *) p;

    if (strcmp(type, "image/png") == 0)
        vips_pngload_buffer(buf, n, &img, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (strcmp(type, "image/gif") == 0)
        vips_gifload_buffer(buf, n, &img, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else
        vips_webpload_buffer(buf, n, &img, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    if (img == NULL)
        return -1;
    int rc = vips_pngsave(img, path, "strip", TRUE, NULL);
    g_object_unref(img);
    return rc == 0 ? 0 : -1;
}

static int write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* the stored styles of the emoji id whose original is name */
static int remove_files(const worker_config *cfg, const char *id, const char *name, char *err,
                        size_t errlen)
{
    char key[MEDIA_KEY_MAX], png[160];
    const char *dot = strrchr(name, '.');

    snprintf(png, sizeof(png), "%.*s.png", dot ? (int) (dot - name) : (int) strlen(name), name);
    if (media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "original", name) != 0
        || media_storage_delete(cfg, key, err, errlen) != 0)
        return -1;
    if (media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "static", png) != 0
        || media_storage_delete(cfg, key, err, errlen) != 0)
        return -1;
    return 0;
}

typedef struct {
    const char  *category;
    int          overwrite;
    int          unlisted;
} add_options;

/* One emoji from the len bytes of path (a file, or an archive's entry):
 * 0 added, 1 skipped (exists), -1 failed. */
static int add_bytes(const worker_config *cfg, PGconn *db, const char *shortcode,
                     const char *path, const unsigned char *bytes, size_t len,
                     const add_options *o)
{
    char err[1024], name[160], png[160], key[MEDIA_KEY_MAX], tmp[2][64], size[24];
    const char *extension, *type, *category = o->category;
    int rc = -1;

    if (!valid_shortcode(shortcode)) {
        fprintf(stderr, "mastodon-worker: %s: Shortcode is invalid"
                " (letters, digits and _, 2 at least)\n", shortcode);
        return -1;
    }
    type = image_type(bytes, len, &extension);
    if (type == NULL) {
        fprintf(stderr, "mastodon-worker: %s: Image must be a PNG, GIF or WebP image\n", path);
        return -1;
    }

    /* the file names: the lower-cased shortcode (keys are [a-z0-9._]) */
    size_t i;
    for (i = 0; shortcode[i] && i < 100; i++)
        name[i] = (char) tolower((unsigned char) shortcode[i]);
    snprintf(name + i, sizeof(name) - i, ".%s", extension);
    snprintf(png, sizeof(png), "%.*s.png", (int) i, name);

    snprintf(tmp[0], sizeof(tmp[0]), "/tmp/mastodon-emoji-%ld-o", (long) getpid());
    snprintf(tmp[1], sizeof(tmp[1]), "/tmp/mastodon-emoji-%ld-s.png", (long) getpid());
    if (write_static(bytes, len, type, tmp[1]) != 0) {
        fprintf(stderr, "mastodon-worker: %s: the image does not decode: %s\n", path,
                vips_error_buffer());
        vips_error_clear();
        return -1;
    }
    if (write_file(tmp[0], bytes, len) != 0) {
        fprintf(stderr, "mastodon-worker: %s: %s\n", tmp[0], strerror(errno));
        goto out;
    }

    /* the row first (its id names the keys), then the files, then the row
     * points at them: a failure leaves no row pointing at nothing */
    const char *ex[1] = { shortcode };
    PGresult *res = db_query(db,
        "SELECT id, image_file_name FROM custom_emojis"
        " WHERE domain IS NULL AND lower(shortcode) = lower($1)",
        1, ex, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }
    char id[24] = "", old[160] = "";
    if (PQntuples(res) == 1) {
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        snprintf(old, sizeof(old), "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (id[0] && !o->overwrite) {
        printf("%s: exists, skipped (--overwrite replaces it)\n", shortcode);
        rc = 1;
        goto out;
    }
    if (id[0] == '\0') {
        res = db_query(db,
            "INSERT INTO custom_emojis (shortcode, domain, disabled)"
            " VALUES ($1, NULL, true) RETURNING id",
            1, ex, PGRES_TUPLES_OK, err, sizeof(err));
        if (res == NULL) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            goto out;
        }
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    } else if (old[0] && remove_files(cfg, id, old, err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }

    if (media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "original", name) != 0
        || media_storage_put(cfg, key, tmp[0], type, err, sizeof(err)) != 0
        || media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "static", png) != 0
        || media_storage_put(cfg, key, tmp[1], "image/png", err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: %s: %s\n", shortcode, err);
        goto out;
    }

    char lenbuf[24];
    snprintf(lenbuf, sizeof(lenbuf), "%zu", len);
    const char *up[7] = { id, shortcode, name, type, lenbuf, category, o->unlisted ? "f" : "t" };
    res = db_query(db,
        "WITH c AS (INSERT INTO custom_emoji_categories (name)"
        "  SELECT $6::varchar WHERE $6::varchar IS NOT NULL"
        "  ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id)"
        " UPDATE custom_emojis SET shortcode = $2, image_file_name = $3,"
        " image_content_type = $4, image_file_size = $5::int,"
        " image_updated_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC',"
        " disabled = false, uri = NULL, image_remote_url = NULL,"
        " visible_in_picker = $7::boolean,"
        " category_id = CASE WHEN $6::varchar IS NULL THEN category_id ELSE (SELECT id FROM c) END"
        " WHERE id = $1::bigint",
        7, up, PGRES_COMMAND_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }
    PQclear(res);
    mstdn_media_human_size(len, size, sizeof(size));
    printf("%s: added (%s, %s)\n", shortcode, type, size);
    rc = 0;

out:
    unlink(tmp[0]);
    unlink(tmp[1]);
    return rc;
}

/* One emoji from one file: add_bytes()'s answer. */
static int add_file(const worker_config *cfg, PGconn *db, const char *shortcode, const char *path,
                    const add_options *o)
{
    char err[1024];
    size_t len;

    unsigned char *bytes = read_image(path, &len, err, sizeof(err));
    if (bytes == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return -1;
    }
    int rc = add_bytes(cfg, db, shortcode, path, bytes, len, o);
    free(bytes);
    return rc;
}

/* a name of the archive that could mean a place outside it: refused */
static int unsafe_name(const char *name)
{
    if (name[0] == '/' || name[0] == '\0')
        return 1;
    for (const char *p = name; *p; ) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n;
        if (*p == '/')
            p++;
    }
    return strchr(name, '\\') != NULL;
}

static int ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), m = strlen(end);
    return n >= m && strcmp(s + n - m, end) == 0;
}

/* tootctl emoji import of a .tar.gz: 0 read through (whatever each entry
 * gave), 1 the archive could not be read to its end. */
static int import_archive(const worker_config *cfg, PGconn *db, const char *path,
                          const char *prefix, const char *suffix, const add_options *o)
{
    char err[512], shortcode[256];
    unsigned imported = 0, skipped = 0, failed = 0;
    unsigned char *buf = malloc(EMOJI_LIMIT);
    tar_gz_entry e;
    int rc = 0, more;

    tar_gz *t = buf ? tar_gz_open(path, ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, err, sizeof(err))
                    : NULL;
    if (t == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", buf ? err : "out of memory");
        free(buf);
        return 1;
    }
    while ((more = tar_gz_next(t, &e, err, sizeof(err))) == 1) {
        if (!ends_with(e.name, ".png") && !ends_with(e.name, ".gif")
            && !ends_with(e.name, ".webp"))
            continue;
        if (unsafe_name(e.name)) {
            fprintf(stderr, "mastodon-worker: %s: refused (a path outside the archive)\n", e.name);
            failed++;
            continue;
        }
        const char *base = strrchr(e.name, '/');
        base = base ? base + 1 : e.name;
        if (strncmp(base, "._", 2) == 0)
            continue;                           /* macOS shadow files */
        const char *dot = strrchr(base, '.');
        if ((size_t) snprintf(shortcode, sizeof(shortcode), "%s%.*s%s", prefix,
                              (int) (dot - base), base, suffix) >= sizeof(shortcode)) {
            fprintf(stderr, "mastodon-worker: %s: Shortcode is too long\n", e.name);
            failed++;
            continue;
        }
        if (e.size > EMOJI_LIMIT || e.size == 0) {
            fprintf(stderr, "mastodon-worker: %s: %s\n", e.name,
                    e.size ? "Image must be less than 256 KB" : "empty file");
            failed++;
            continue;
        }
        if (tar_gz_read(t, &e, buf, err, sizeof(err)) != 0) {
            more = -1;
            break;
        }
        int r = add_bytes(cfg, db, shortcode, e.name, buf, (size_t) e.size, o);
        if (r == 0)
            imported++;
        else if (r == 1)
            skipped++;
        else
            failed++;
    }
    if (more < 0) {
        fprintf(stderr, "mastodon-worker: %s: %s\n", path, err);
        rc = 1;
    }
    tar_gz_close(t);
    free(buf);
    printf("Imported %u, skipped %u, failed to import %u\n", imported, skipped, failed);
    return rc;
}

static int list_cmd(const worker_config *cfg, PGconn *db)
{
    char err[512], key[MEDIA_KEY_MAX], url[4200];

    PGresult *res = db_query(db,
        "SELECT e.id, e.shortcode, e.image_file_name, coalesce(c.name, ''),"
        " e.visible_in_picker, e.disabled"
        " FROM custom_emojis e LEFT JOIN custom_emoji_categories c ON c.id = e.category_id"
        " WHERE e.domain IS NULL AND e.image_file_name IS NOT NULL ORDER BY lower(e.shortcode)",
        0, NULL, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        url[0] = '\0';
        if (media_key(key, sizeof(key), 0, "custom_emojis", "images", PQgetvalue(res, r, 0),
                      "original", PQgetvalue(res, r, 2)) == 0)
            media_storage_url(cfg, key, url, sizeof(url));
        printf(":%s:\t%s\t%s%s%s\n", PQgetvalue(res, r, 1), url, PQgetvalue(res, r, 3),
               PQgetvalue(res, r, 4)[0] == 't' ? "" : "\t(hidden)",
               PQgetvalue(res, r, 5)[0] == 't' ? "\t(disabled)" : "");
    }
    PQclear(res);
    return 0;
}

static int remove_cmd(const worker_config *cfg, PGconn *db, const char *shortcode)
{
    char err[1024];
    const char *p[1] = { shortcode };

    PGresult *res = db_query(db,
        "SELECT id, coalesce(image_file_name, '') FROM custom_emojis"
        " WHERE domain IS NULL AND lower(shortcode) = lower($1)",
        1, p, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr, "mastodon-worker: no local emoji :%s:\n", shortcode);
        PQclear(res);
        return 1;
    }
    char id[24];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    if (PQgetvalue(res, 0, 1)[0]
        && remove_files(cfg, id, PQgetvalue(res, 0, 1), err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        PQclear(res);
        return 1;
    }
    PQclear(res);
    const char *d[1] = { id };
    res = db_query(db, "DELETE FROM custom_emojis WHERE id = $1::bigint", 1, d,
                   PGRES_COMMAND_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    PQclear(res);
    printf(":%s: removed\n", shortcode);
    return 0;
}

int cmd_emoji(worker_config *cfg, int argc, char **argv)
{
    char err[512], shortcode[300];
    const char *prefix = "", *suffix = "", *sub = argc > 1 ? argv[1] : "";
    const char *args[2] = { NULL, NULL };
    add_options o = { NULL, 0, 0 };
    int nargs = 0, want, rc, archive = 0;

    if (strcmp(sub, "import") == 0 || strcmp(sub, "remove") == 0)
        want = 1;
    else if (strcmp(sub, "add") == 0)
        want = 2;
    else if (strcmp(sub, "list") == 0)
        want = 0;
    else {
        fputs(usage_text, stderr);
        return 2;
    }
    int adding = strcmp(sub, "import") == 0 || strcmp(sub, "add") == 0;
    for (int i = 2; i < argc; i++) {
        if (adding && strcmp(argv[i], "--overwrite") == 0) {
            o.overwrite = 1;
        } else if (adding && strcmp(argv[i], "--unlisted") == 0) {
            o.unlisted = 1;
        } else if (adding && strcmp(argv[i], "--category") == 0 && i + 1 < argc) {
            o.category = argv[++i];
        } else if (strcmp(sub, "import") == 0 && strcmp(argv[i], "--prefix") == 0
                   && i + 1 < argc) {
            prefix = argv[++i];
        } else if (strcmp(sub, "import") == 0 && strcmp(argv[i], "--suffix") == 0
                   && i + 1 < argc) {
            suffix = argv[++i];
        } else if (argv[i][0] != '-' && nargs < want) {
            args[nargs++] = argv[i];
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (nargs != want) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (o.category != NULL && (o.category[0] == '\0' || strlen(o.category) > 64)) {
        fprintf(stderr, "mastodon-worker: --category: 1 to 64 characters\n");
        return 2;
    }
    if (strcmp(sub, "import") == 0) {
        const char *base = strrchr(args[0], '/');
        base = base ? base + 1 : args[0];
        size_t n = strlen(base);
        if (strlen(prefix) > 64 || strlen(suffix) > 64) {
            fprintf(stderr, "mastodon-worker: --prefix, --suffix: 64 characters at most\n");
            return 2;
        }
        archive = ends_with(base, ".tar.gz") || ends_with(base, ".tgz");
        const char *dot = strrchr(base, '.');
        snprintf(shortcode, sizeof(shortcode), "%s%.*s%s", prefix,
                 dot ? (int) (dot - base) : (int) n, base, suffix);
        args[1] = args[0];
        args[0] = shortcode;
    }

    if (adding)
        media_init("mastodon-worker");
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    if (archive)
        rc = import_archive(cfg, db, args[1], prefix, suffix, &o);
    else if (adding)
        rc = add_file(cfg, db, args[0], args[1], &o) < 0 ? 1 : 0;
    else if (want == 1)
        rc = remove_cmd(cfg, db, args[0]);
    else
        rc = list_cmd(cfg, db);
    db_close(&db);
    return rc;
}
