"""Synthetic history for `make run`: months of plausible activity over communes of many départements, so
that /statistiques means something on first start. Never imported by production code."""

from stdnum import luhn
from stdnum.fr import siret as siret_number

# (INSEE code, name, weight: roughly the population in thousands, which drives the activity)
COMMUNES = tuple(
    (code, name, int(weight))
    for code, name, weight in (
        line.split(";")
        for line in """
75056;Paris;2100
13055;Marseille;870
69123;Lyon;520
31555;Toulouse;500
06088;Nice;340
44109;Nantes;320
34172;Montpellier;300
67482;Strasbourg;290
33063;Bordeaux;260
59350;Lille;235
35238;Rennes;225
51454;Reims;180
42218;Saint-Étienne;175
83137;Toulon;180
38185;Grenoble;158
21231;Dijon;158
49007;Angers;157
63113;Clermont-Ferrand;147
72181;Le Mans;145
29019;Brest;140
37261;Tours;137
80021;Amiens;134
87085;Limoges;130
66136;Perpignan;120
57463;Metz;120
25056;Besançon;119
45234;Orléans;116
76540;Rouen;114
14118;Caen;108
54395;Nancy;105
86194;Poitiers;90
64445;Pau;77
17300;La Rochelle;78
56260;Vannes;54
28085;Chartres;39
10387;Troyes;62
73065;Chambéry;60
84007;Avignon;91
11069;Carcassonne;46
12202;Rodez;24
81004;Albi;49
24322;Périgueux;30
19272;Tulle;15
16015;Angoulême;42
85191;La Roche-sur-Yon;57
53130;Laval;50
62041;Arras;42
02408;Laon;25
08105;Charleville-Mézières;46
88160;Épinal;32
68066;Colmar;67
90010;Belfort;47
71270;Mâcon;34
58194;Nevers;33
18033;Bourges;64
03190;Moulins;19
43157;Le Puy-en-Velay;19
01053;Bourg-en-Bresse;42
65440;Tarbes;42
32013;Auch;22
40192;Mont-de-Marsan;30
78646;Versailles;85
92050;Nanterre;96
93008;Bobigny;53
94028;Créteil;92
77288;Melun;41
22278;Saint-Brieuc;44
23096;Guéret;13
48095;Mende;12
15014;Aurillac;25
2A004;Ajaccio;72
2B033;Bastia;48
97411;Saint-Denis;153
97209;Fort-de-France;76
97120;Pointe-à-Pitre;15
97302;Cayenne;63
97611;Mamoudzou;71
""".strip().splitlines()
    )
)
IDENTITY_PROVIDERS = (("demo-usagers", 0.82), ("demo-entreprises", 0.11), ("demo-agents", 0.07))
NATIONAL_SERVICES = ("mairie-demo",)
APIS = (
    ("caf-quotient-familial", 0.5),
    ("dgfip-revenu-fiscal-reference", 0.35),
    ("cnous-statut-etudiant-boursier", 0.15),
)


def siret_for(index: int) -> str:
    """A valid SIRET, the same for the same index (the sandbox's communes are found again by it)."""
    siren_body = f"{21_000_000 + index:08d}"
    body = siren_body + luhn.calc_check_digit(siren_body) + "0001"
    return next(body + last for last in "0123456789" if siret_number.is_valid(body + last))
