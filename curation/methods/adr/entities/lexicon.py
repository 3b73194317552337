"""Closed English word lists for the offline noun finder (curation/methods/adr/entities/text.py).

The finder treats every open-class word as a noun unless these lists, or the word's context,
say otherwise: closed-class words, common adjectives and common verbs are listed here, with
irregular plural nouns. Users with a domain lexicon extend it by config (`lexicon=PATH`).
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Determiners, pronouns, prepositions, conjunctions, auxiliaries, modals, wh-words, numbers,
# common adverbs and discourse words: never nouns.
CLOSED_CLASS = _words("""
a an the this that these those some any each every either neither no all both half several
many much more most few fewer less least other another such what which whose whatever
i me my mine myself you your yours yourself yourselves he him his himself she her hers
herself it its itself we us our ours ourselves they them their theirs themselves one ones
someone somebody something anyone anybody anything everyone everybody everything nobody
nothing none who whom whoever where when why how whether
of in on at by for with without within into onto upon from to toward towards about above
below over under underneath beneath between among amongst through throughout during before
after behind beside besides near nearby inside outside around across along against beyond
past via per than like unlike despite except until till since off up down out away back
and or but nor so yet if then else because although though unless while whereas
be am is are was were been being do does did done doing have has had having
can could may might must shall should will would ought
not n't very too also just only even still already almost quite rather really again ever
never always often sometimes usually here there now today maybe perhaps however therefore
thus instead mostly mainly likely probably possibly especially exactly simply directly
yes no ok okay please thanks thank plus minus anywhere somewhere everywhere nowhere
relative shown seen given taken drawn written known made found done gone
zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
hundred thousand million first second third fourth fifth last next
s t d ll re ve m
""")

# Words after which the next content word is a noun (a noun phrase has started).
NOUN_CONTEXT = _words("""
a an the this that these those some any each every no all both several many much more most
few fewer least another other such what which whose my your his her its our their one two
three four five six seven eight nine ten first second third last next of
""")

ADJECTIVES = _words("""
red blue green yellow white black purple orange pink cyan brown gray grey golden silver
beige tan teal navy maroon violet magenta turquoise dark light bright pale colorful colourful
big small large little tiny huge giant long short tall high low wide narrow thick thin
heavy round square flat deep shallow full empty open closed new old young ancient modern
good bad great best better worst worse nice fine beautiful pretty ugly cute clean dirty
hot cold warm cool wet dry soft hard smooth rough sharp fresh ripe raw sweet sour bitter
fast slow quick early late busy quiet loud calm happy sad angry funny serious simple
complex easy difficult possible impossible true false real fake main different same similar
various certain whole entire single double multiple visible hidden clear blurry sunny
cloudy rainy snowy foggy wooden metal metallic plastic glass paper leather striped spotted
plain wild domestic natural artificial urban rural public private local central left right
top bottom front rear middle upper lower inner outer near far close distant nearby
own able unable available ready sure likely unlikely important special common rare unusual
typical strange interesting curious famous popular traditional professional free
male female adult elderly alive dead healthy sick tired
striped dotted checkered shiny dull transparent opaque solid hollow curved straight
vertical horizontal diagonal circular rectangular triangular oval
absolute correct incorrect wrong

""")

# Base forms; inflected forms are recognised by stripping -s/-es/-ed/-ing.
VERBS = _words("""
answer ask tell say speak talk describe explain identify determine indicate mention
show see look watch view observe notice appear seem become remain stay keep get give take
make put place set hold carry bring move go come walk run sit stand lie lay rest wait
play eat drink cook cut open close turn fly ride drive swim jump climb throw catch hit kick
wear dress use try want need like love hate think know believe guess consider suggest
provide offer include contain consist feature depict display represent illustrate capture
fill cover surround face hang lean point park grow build create write read draw paint
count compare choose select pick find search help allow let begin start stop end finish
continue happen occur exist belong depend focus relate refer mean call name list add
enjoy prepare serve sell buy pay work live die kill help follow lead leave enter reach
pass cross hope wish plan decide learn teach study visit travel arrive return push pull
lift drop fall rise shake wave touch feel smell hear listen sound sing dance smile laugh
cry sleep wake dream shine burn melt freeze pour mix wash clean fix break repair check
test measure weigh cost own seat locate position arrange design decorate paint store
shop support protect prevent cause affect change improve increase reduce produce perform
act hand head mark sign signal note print type press share post color colour
lie summarize summarise
""")

# -ing/-ed words that are nouns in their own right.
ING_ED_NOUNS = _words("""
building ceiling painting clothing drawing wedding morning evening bed sled shed thing
ring king wing string spring swing railing sibling pudding dumpling stuffing icing frosting
topping awning landing crossing parking skiing surfing hed sled seed weed reed
""")

IRREGULAR_PLURALS: dict[str, str] = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "feet": "foot",
    "teeth": "tooth",
    "geese": "goose",
    "mice": "mouse",
    "oxen": "ox",
    "leaves": "leaf",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "wolves": "wolf",
    "shelves": "shelf",
    "halves": "half",
    "loaves": "loaf",
    "calves": "calf",
    "scarves": "scarf",
    "thieves": "thief",
    "elves": "elf",
    "selves": "self",
    "buses": "bus",
    "gases": "gas",
    "lenses": "lens",
    "axes": "axis",
    "analyses": "analysis",
    "crises": "crisis",
    "bases": "base",
    "cases": "case",
    "vases": "vase",
    "dice": "die",
    "criteria": "criterion",
    "phenomena": "phenomenon",
    "data": "data",
    "movies": "movie",
    "cookies": "cookie",
    "pies": "pie",
    "ties": "tie",
    "lies": "lie",
    "shoes": "shoe",
    "toes": "toe",
    "canoes": "canoe",
    "horses": "horse",
    "houses": "house",
    "buses'": "bus",
    "sheep": "sheep",
    "fish": "fish",
    "deer": "deer",
    "species": "species",
    "series": "series",
    "glasses": "glass",
    "clothes": "clothes",
    "pants": "pants",
    "jeans": "jeans",
    "scissors": "scissors",
    "shorts": "shorts",
    "news": "news",
    "physics": "physics",
    "mathematics": "mathematics",
    "bus": "bus",
    "lens": "lens",
    "gas": "gas",
    "plus": "plus",
    "cactus": "cactus",
    "cacti": "cactus",
}
