import json, random, uuid, base64
random.seed(20261205)
names = ["Ada O'Neil", "Siobhán Ní Bhriain", "D'Angelo Russell", "Zoë Saldaña", "Jean-Luc Picard", "Renée Zellweger",
         "Émile Zola", "Mary-Kate Olsen", "José Álvarez", "Nguyễn Văn An", "Björk Guðmundsdóttir", "Conan O'Brien",
         "Anne-Marie d'Arcy", "Li Wei", "Fatima Al-Sayed", "Søren Kierkegaard", "Chloë Sevigny", "Ryan O'Connor-Smith"]
companies = ["O'Reilly & Sons Ltd.", "Smith & Wesson Holdings", "Ben & Jerry's", "AT&T Business", "Procter & Gamble",
             "Marks & Spencer plc", "Johnson & Johnson", "Barnes & Noble, Inc.", "H&M Hennes & Mauritz AB", "Toys \"R\" Us"]
emails = ["ada.oneil+orders@example.com", "first.last@sub.example.co.uk", "o'connor@example.ie", "billing@example.org",
          "j.doe@example.com", "support+ticket-4412@help.example.net", "x@example.io", "renee_z@example.fr"]
urls = ["https://cdn.example.com/img/p/123.png?size=large&v=2", "https://example.com/docs/getting-started#install",
        "https://hooks.example.org/rampart/events", "https://www.example.net/search?q=red+shoes&page=2",
        "https://example.com/users/42/avatar.jpg", "https://api.example.com/v2/orders?status=open",
        "https://github.com/example/repo/pull/1287", "https://maps.example.com/?ll=51.5074,-0.1278&z=14"]
searches = ['"red shoes" size:42', "women's running shoes", "don't starve together", "rock 'n' roll vinyl",
            "drop-down menu component", "union jack flag 3x5", "order by date", "where to buy cheap flights",
            "1/2 inch copper pipe", "C++ & C# books", "50% off winter coats", "tom & jerry dvd", "select comfort mattress",
            "insert molding guide", "table lamp with usb", "delete my account", "how to update firmware", "ikea billy bookcase",
            "best sci-fi (2024)", "kids' bikes 20\"", "mother's day gifts", "it's a wonderful life", "o'reilly learning go",
            "update: still broken?", "null pointer exception java", "from paris to london", "and/or", "1 + 1 = 2",
            "tickets for 'hamlet'", "price < 100", "size >= 10", "#hashtag trends", "caf\u00e9 near me", "where's my order"]
notes_md = [
    "## Update\n\n1. Installed the new firmware.\n2. Rebooted the router.\n\n**Result:** everything works again.",
    "### Steps to reproduce\n\n1. Open the app\n2. Tap *Settings* > *Account*\n3. Select 'Delete data'\n\nExpected: a confirmation dialog.\nActual: the app closes.",
    "- [x] call the customer\n- [ ] send the invoice\n- [ ] update the CRM record",
    "> The parcel was left at the door.\n\nThanks! I'll check with my neighbour.",
    "Run `npm install` and then `npm run build`; see [the docs](https://example.com/docs) for details.",
    "| Size | Stock |\n|------|-------|\n| S    | 4     |\n| M    | 0     |",
    "**Note:** the order from last week (#4412) was shipped twice -- please refund one of them.",
    "# Release notes 2.4\n\n* Faster search\n* Fixed the 'remember me' checkbox\n* Dropped support for IE 11",
    "Meeting notes:\n\n1. Budget for Q3 approved.\n2. Select a vendor by Friday.\n3. Update the roadmap and share it with the team.",
    "I've attached the screenshot. The error says: \"Could not connect to the server\". It's been like this since Monday.",
]
prose = [
    "This lamp's shade is 30 cm wide; select a bulb of up to 60 W.",
    "Best purchase I've made -- would buy again!!!",
    "The delivery guy was great, but the box was damaged (the corner was crushed).",
    "Please don't ring the bell, the baby is sleeping. Leave it by the back door.",
    "Our team of 5 needs access from 9:00 to 17:30, Monday to Friday.",
    "Can you update the shipping address? I moved last week. It should be Flat 3, 12 O'Connell St.",
    "I ordered the blue one but received the red one. Could you exchange it?",
    "Works as described. Battery lasts ~10 hours; charging takes 2h.",
    "The union of the two sets is empty, so the query returns nothing -- is that expected?",
    "Drop me a line when the new stock arrives; I'd like to order 3 more.",
    "We select suppliers based on price, quality and delivery times.",
    "Is it possible to change the order from 2 items to 3? Thanks in advance :)",
    "Great value for money. 5/5 would recommend to friends & family.",
    "Cancel my subscription at the end of this month, please.",
    "I'm having trouble logging in; the password reset e-mail never arrives.",
    "Gift wrap please, and add a card saying 'Happy birthday, Mum! Love, Tom & Ella'",
    "Where is the invoice for order 2026-114? I need it for my tax return.",
    "The product page says 'in stock' but checkout says 'unavailable'.",
    "Deliver between 8am and 12pm if possible; otherwise leave with reception.",
    "Love it <3 The colour is exactly as shown.",
]
skus = ["WID-0037", "SELECT-123", "DROP-LAMP-2", "TBL-ORDER-9", "UNI-ON-77", "SKU_4421_B", "AB-12/34", "X-100"]
def uid(): return str(uuid.UUID(int=random.getrandbits(128), version=4))
def b64(n): return base64.b64encode(bytes(random.getrandbits(8) for _ in range(n))).decode()
def cursor(): return base64.urlsafe_b64encode(json.dumps({"id": random.randint(1, 99999), "ts": "2026-11-%02dT10:00:00Z" % random.randint(1, 28)}).encode()).decode().rstrip("=")
def date(): return "2026-%02d-%02dT%02d:%02d:00Z" % (random.randint(1, 12), random.randint(1, 28), random.randint(0, 23), random.randint(0, 59))
def phone(): return random.choice(["+44 (0)20 7946 0958", "+1-202-555-0143", "(555) 010-4477", "+33 1 23 45 67 89", "+49 30 901820"])
def address():
    return {"street": random.choice(["12 Harbour Road", "Flat 3, 12 O'Connell St.", "221B Baker Street", "1600 Amphitheatre Pkwy", "Rue de l'Église 4", "Königstraße 10"]),
            "city": random.choice(["Bristol", "Dublin", "London", "Mountain View", "Paris", "Stuttgart", "Saint-Étienne"]),
            "postcode": random.choice(["BS1 5DB", "D02 X285", "NW1 6XE", "94043", "75001", "70173"]),
            "country": random.choice(["GB", "IE", "US", "FR", "DE"])}
def line(): return {"sku": random.choice(skus), "name": random.choice(["Widget, brushed steel", "Drop Table Lamp", "Select-a-Size Shirt", "Union Jack Mug", "Kids' Bike 20\"", "Coffee beans (1 kg)"]), "quantity": random.randint(1, 9), "unit_price": round(random.uniform(1, 300), 2)}

reqs = []
def add(name, method, target, body=None, ct="application/json"):
    r = {"name": name, "method": method, "target": target}
    if body is not None:
        r["content_type"] = ct
        r["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    reqs.append(r)

from urllib.parse import quote, urlencode
for i in range(40):
    q = random.choice(searches)
    params = {"q": q, "page": random.randint(1, 5), "sort": random.choice(["-created_at", "price", "name", "relevance"])}
    if random.random() < 0.4: params["cursor"] = cursor()
    if random.random() < 0.3: params["fields"] = "id,name,price"
    add("search %d" % i, "GET", "/v1/search?" + urlencode(params, quote_via=quote))
for i in range(30):
    order = {"customer": {"id": uid(), "name": random.choice(names), "email": random.choice(emails), "phone": phone()},
             "shipping": address(), "lines": [line() for _ in range(random.randint(1, 4))], "currency": random.choice(["GBP", "EUR", "USD"]),
             "note": random.choice(prose + notes_md), "coupon": random.choice([None, "WINTER-2026", "SPRING10", "VIP_2026"]),
             "requested_at": date()}
    add("create order %d" % i, "POST", "/v1/orders", order)
for i in range(25):
    add("replace user %d" % i, "PUT", "/v1/users/" + uid(), {"name": random.choice(names), "email": random.choice(emails),
        "company": random.choice(companies), "bio": random.choice(prose + notes_md), "website": random.choice(urls),
        "avatar": ("data:image/png;base64," + b64(48)) if i % 8 == 0 else random.choice(urls[:2] + ["https://example.com/users/%d/avatar.jpg" % i]), "locale": random.choice(["en-GB", "fr-FR", "de-DE", "ga-IE"]), "timezone": "Europe/London"})
for i in range(25):
    patch = random.choice([
        {"status": random.choice(["shipped", "cancelled", "on hold", "delivered"]), "note": random.choice(prose)},
        {"shipping": address()},
        {"description": random.choice(notes_md)},
        {"tags": random.sample(["sale", "new", "drop-ship", "union-made", "select", "order-by-phone", "from-stock"], 3)},
        {"title": random.choice(["Don't forget: call back", "Re: \"Invoice\" question", "Update -- 50% done", "Select the vendor (urgent)"])},
    ])
    add("patch order %d" % i, "PATCH", "/v1/orders/ord_%d" % random.randint(1000, 99999), patch, ct=random.choice(["application/merge-patch+json", "application/json"]))
for i in range(20):
    add("delete %d" % i, "DELETE", random.choice(["/v1/orders/", "/v1/users/", "/v1/sessions/", "/v1/webhooks/"]) + uid())
for i in range(25):
    ticket = {"subject": random.choice(["Order didn't arrive", "Can't log in", "Wrong item (size 'M' instead of 'L')", "Refund for order #4412", "Question about 'select' plan"]),
              "body": random.choice(notes_md) + "\n\n" + random.choice(prose), "priority": random.choice(["low", "normal", "high"]),
              "attachments": [{"name": "screenshot-%d.png" % random.randint(1, 9), "content": b64(96)}] if random.random() < 0.5 else [],
              "reporter": {"name": random.choice(names), "email": random.choice(emails)}}
    add("ticket %d" % i, "POST", "/v1/tickets", ticket)
for i in range(20):
    add("review %d" % i, "POST", "/v1/products/%s/reviews" % random.choice(skus), {"rating": random.randint(1, 5), "title": random.choice(["Great!", "Not bad", "Don't buy", "Worth it -- mostly", "5 stars & more"]),
        "text": random.choice(prose), "author": random.choice(names)})
for i in range(20):
    add("webhook %d" % i, "POST", "/v1/webhooks", {"url": random.choice(urls), "events": random.sample(["order.created", "order.updated", "order.deleted", "user.created", "payment.failed"], 2),
        "secret": b64(24), "description": random.choice(prose)})
for i in range(20):
    params = {"status": random.choice(["open", "shipped", "on-hold"]), "created_after": date(), "customer_email": random.choice(emails),
              "limit": random.choice([10, 25, 50]), "include": random.choice(["lines,customer", "shipping", "lines"])}
    add("list orders %d" % i, "GET", "/v1/orders?" + urlencode(params, quote_via=quote))
for i in range(15):
    add("form login %d" % i, "POST", "/v1/oauth/token", urlencode({"grant_type": "password", "username": random.choice(emails), "password": random.choice(["correct horse battery staple", "P@ssw0rd!2026", "s3cr3t'pass", "Tr0ub4dor&3"]), "scope": "orders:read orders:write"}), ct="application/x-www-form-urlencoded")
with open("benign-api.jsonl", "w") as f:
    for r in reqs:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(reqs))
