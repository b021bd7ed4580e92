"""Writes SQL shaped like the draw group commit, for scripts/bench-indexes.

usage: gen.py narrow|wide <draws> <group size>
One transaction per group: a multi-row insert of G draws (2000 customers, nonces counting up per
customer) and one of their ledger rows (a debit per draw, and a points win for every 4th draw).
"narrow" rows have the columns of 70aeec5, "wide" ones also the fair-draw columns of 0011.
"""
import random
import sys

wide = sys.argv[1] == "wide"; N = int(sys.argv[2]); G = int(sys.argv[3])
random.seed(1)
nonce = {}
out = sys.stdout
t0 = 1764633600000
did = 1
for g in range(N // G):
    draws = []; ledger = []
    at = t0 + g * 7
    for i in range(G):
        u = random.randint(1, 2000); n = nonce.get(u, 0); nonce[u] = n + 1
        base = f"({did},{u},'{random.getrandbits(64):016x}{random.getrandbits(64):016x}',{random.randint(1,8)},'谢谢参与','none',0,{random.randint(0,7)*45},0,0,100,NULL,NULL,{at}"
        if wide:
            base += f",1,{n},NULL,{random.random()!r},1,0,NULL"
        draws.append(base + ")")
        ledger.append(f"({u},-100,{1000000-n*100},'lottery','抽奖1次','b{did}',NULL,{at})")
        if i % 4 == 0:
            ledger.append(f"({u},10,{1000000-n*100+10},'lottery_win','抽中 10积分','{did}',NULL,{at})")
        did += 1
    cols = "id,user_id,batch_id,prize_id,prize_name,prize_type,prize_value,angle,is_pity,is_near_miss,points_cost,redemption_code,status,created_at"
    if wide:
        cols += ",campaign_id,nonce,client_seed,random_value,seed_id,sold_out_mask,expires_at"
    out.write("BEGIN;\n")
    out.write(f"INSERT INTO lottery_draws ({cols}) VALUES " + ",".join(draws) + ";\n")
    out.write("INSERT INTO points_records (user_id,points,balance_after,source,description,related_id,idempotency_key,created_at) VALUES " + ",".join(ledger) + ";\n")
    out.write("COMMIT;\n")
