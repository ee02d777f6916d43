/* The scheduler: due retries and scheduled jobs go back to their streams. */
#include "scheduler.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define SCHEDULER_BATCH 100

/* KEYS[1]: the sorted set.  ARGV: now (ms), batch size, stream prefix,
 * dead stream.  Members are JSON objects (ARCHITECTURE.md); "args" is
 * copied as raw text, not decoded and re-encoded, because cjson would turn
 * 64-bit integers into doubles.  A member that cannot be decoded goes to the
 * dead stream rather than blocking the set.  Returns the number moved. */
static redis_script move_due_script = { .body =
    "local function raw_member(s, want)\n"
    "  local i = s:find('{', 1, true)\n"
    "  if not i then return nil end\n"
    "  i = i + 1\n"
    "  while true do\n"
    "    local ks = s:find('\"', i, true)\n"
    "    if not ks then return nil end\n"
    "    local ke = ks + 1\n"
    "    while true do\n"
    "      local c = s:find('[\"\\\\]', ke)\n"
    "      if not c then return nil end\n"
    "      if s:sub(c, c) == '\\\\' then ke = c + 2 else ke = c break end\n"
    "    end\n"
    "    local key = s:sub(ks + 1, ke - 1)\n"
    "    local vs = s:find('[^%s:]', s:find(':', ke + 1, true) + 1)\n"
    "    local depth, p, instr = 0, vs, false\n"
    "    while true do\n"
    "      local c = s:find('[\"\\\\{}%[%],]', p)\n"
    "      if not c then return nil end\n"
    "      local ch = s:sub(c, c)\n"
    "      if instr then\n"
    "        if ch == '\\\\' then p = c + 2 else p = c + 1 if ch == '\"' then instr = false end end\n"
    "      elseif ch == '\"' then instr = true p = c + 1\n"
    "      elseif ch == '{' or ch == '[' then depth = depth + 1 p = c + 1\n"
    "      elseif (ch == '}' or ch == ']') and depth > 0 then depth = depth - 1 p = c + 1\n"
    "      elseif ch == ',' and depth > 0 then p = c + 1\n"
    "      else\n"
    "        if key == want then return (s:sub(vs, c - 1):gsub('%s+$', '')) end\n"
    "        if ch ~= ',' then return nil end\n"
    "        i = c + 1\n"
    "        break\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  local ok, job = pcall(cjson.decode, m)\n"
    "  local args = ok and type(job) == 'table' and raw_member(m, 'args')\n"
    "  if args and type(job.queue) == 'string' and job.queue:match('^[a-z0-9_-]+$')\n"
    "     and type(job.type) == 'string' then\n"
    "    redis.call('XADD', ARGV[3] .. job.queue, '*', 'type', job.type, 'args', args,\n"
    "               'attempt', tostring(math.floor(tonumber(job.attempt) or 0)),\n"
    "               'jid', tostring(job.jid or ''),\n"
    "               'enqueued_at', tostring(job.enqueued_at or ARGV[1]))\n"
    "  else\n"
    "    redis.call('XADD', ARGV[4], '*', 'member', m, 'error', 'invalid retry/schedule member',\n"
    "               'failed_at', ARGV[1])\n"
    "  end\n"
    "end\n"
    "return #due\n"
};

static int move_due(redisContext *c, const char *set)
{
    char now[32], batch[16];
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(batch, sizeof(batch), "%d", SCHEDULER_BATCH);

    const char *argv[] = { set, now, batch, QUEUE_PREFIX, QUEUE_DEAD };
    redisReply *r = redis_eval(c, &move_due_script, 1, 5, argv, NULL);
    if (r == NULL) {
        mlog(LOG_ERROR, "redis: scheduler: %s", c->errstr);
        return -1;
    }
    int n = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        n = (int) r->integer;
    else
        mlog(LOG_ERROR, "redis: scheduler %s: %s", set,
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return n;
}

int scheduler_run(redisContext *c)
{
    static const char *sets[] = { QUEUE_RETRY, QUEUE_SCHEDULE };
    int total = 0;

    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        int n;
        /* Full batches mean more may be due: keep going, a batch at a time
         * so Redis is never blocked for long. */
        do {
            n = move_due(c, sets[i]);
            if (n < 0)
                return -1;
            total += n;
        } while (n == SCHEDULER_BATCH);
    }
    if (total > 0)
        mlog(LOG_DEBUG, "scheduler: %d job(s) due, back on their queues", total);
    return total;
}
